using System.Buffers;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Requests;

/// <summary>Serves one Kafka API: decodes the request body, handles it, encodes the response body.</summary>
public interface IApiHandler
{
    /// <summary>The API served.</summary>
    ApiKey Key { get; }

    /// <summary>Lowest version advertised in ApiVersions.</summary>
    short MinVersion { get; }

    /// <summary>Highest version advertised in ApiVersions.</summary>
    short MaxVersion { get; }

    /// <summary>
    /// Answers one request whose body (after the request header) is <paramref name="body"/>: with the handler's
    /// response, or, when <paramref name="refusal"/> is given or the handler fails, with the API's error response
    /// (Kafka's getErrorResponse). Writes the response body to <paramref name="output"/>; the result says whether
    /// there is one (Produce with acks=0 has none) and what failed, if anything. Malformed bodies throw
    /// <see cref="KafkaProtocolException"/>, and a closed connection <see cref="OperationCanceledException"/>.
    /// </summary>
    ValueTask<HandlerResult> HandleAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output, RequestRefusal? refusal);
}

/// <summary>Why the request pipeline refuses a request: the error its response carries everywhere.</summary>
/// <param name="Error">The error code, e.g. CLUSTER_AUTHORIZATION_FAILED.</param>
/// <param name="Message">The error message, for responses that carry one.</param>
public readonly record struct RequestRefusal(ErrorCode Error, string Message);

/// <summary>How a request was answered.</summary>
/// <param name="Responded">Whether a response body was written (false: Kafka sends none).</param>
/// <param name="Failure">The handler's exception when it failed and the error response was sent instead.</param>
public readonly record struct HandlerResult(bool Responded, Exception? Failure);

/// <summary>Base of handlers working on generated message types.</summary>
public abstract class ApiHandler<TRequest, TResponse> : IApiHandler
    where TRequest : class
    where TResponse : class
{
    /// <inheritdoc />
    public abstract ApiKey Key { get; }

    /// <inheritdoc />
    public abstract short MinVersion { get; }

    /// <inheritdoc />
    public abstract short MaxVersion { get; }

    /// <inheritdoc />
    public async ValueTask<HandlerResult> HandleAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output, RequestRefusal? refusal)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = Decode(body, context.ApiVersion);
        var tenant = context.Connection.Tenant;
        if (tenant is not null)
        {
            // A tenant's names go into its namespace before anything looks at them: authorization, the handler, an
            // error response all see stored names, and the response's are mapped back below.
            (request as INamedEntities)?.MapNames(tenant.Inbound);
            MapRequestNames(request, tenant);
        }

        TResponse? response;
        Exception? failure = null;
        if (refusal is { } refused)
        {
            response = ErrorResponse(request, refused.Error, refused.Message);
        }
        else
        {
            try
            {
                response = await HandleAsync(context, request).ConfigureAwait(false);
            }
            catch (Exception ex) when (!context.Aborted.IsCancellationRequested)
            {
                // Kafka's rule: a request that fails is answered with its API's error response and the connection
                // stays open; what went wrong inside is logged, not sent.
                failure = ex;
                response = ErrorResponse(request, ErrorCodes.ForException(ex), null);
            }
        }

        // KIP-124: the time the request took, less its waits on others, counts against the sender's request-time quota;
        // the response carries the longer of that throttle and any other (acks=0 has no response: it is still counted).
        if (context.RequestTimeQuota is { } requestTime)
        {
            context.ThrottleTimeMs = Math.Max(context.ThrottleTimeMs, requestTime(context.WorkTime));
        }

        if (response is null)
        {
            return new HandlerResult(false, failure);
        }

        if (context.ThrottleTimeMs > 0 && response is IThrottledResponse throttled)
        {
            throttled.ThrottleTimeMs = Math.Max(throttled.ThrottleTimeMs, context.ThrottleTimeMs);
        }

        if (tenant is not null)
        {
            (response as INamedEntities)?.MapNames(tenant.Outbound);
            MapResponseNames(response, tenant);
        }

        var writer = new KafkaWriter(output);
        Write(response, ref writer, context.ApiVersion);
        return new HandlerResult(true, failure);
    }

    /// <summary>
    /// Maps the names a request holds where Kafka's specs do not say what they name (config and ACL resource names,
    /// typed by a resource type field) into the tenant's namespace; the generated <see cref="INamedEntities"/> maps
    /// the rest. Nothing by default.
    /// </summary>
    protected virtual void MapRequestNames(TRequest request, TenantNamespace tenant)
    {
    }

    /// <summary>Maps such names of a response back out of the tenant's namespace. Nothing by default.</summary>
    protected virtual void MapResponseNames(TResponse response, TenantNamespace tenant)
    {
    }

    /// <summary>Decodes the request body.</summary>
    protected abstract TRequest Read(ref KafkaReader reader, short version);

    /// <summary>Encodes the response body.</summary>
    protected abstract void Write(TResponse response, ref KafkaWriter writer, short version);

    /// <summary>Handles a decoded request; null means no response is sent.</summary>
    protected abstract ValueTask<TResponse?> HandleAsync(RequestContext context, TRequest request);

    /// <summary>
    /// The response to <paramref name="request"/> when it is refused or fails (Kafka's getErrorResponse):
    /// <paramref name="error"/> in every error field, for every resource the request names; <paramref name="message"/>
    /// in the error message fields the response has. Null only where Kafka sends no response (Produce, acks=0).
    /// </summary>
    protected abstract TResponse? ErrorResponse(TRequest request, ErrorCode error, string? message);

    private TRequest Decode(ReadOnlyMemory<byte> body, short version)
    {
        var reader = new KafkaReader(body);
        return Read(ref reader, version);
    }
}
