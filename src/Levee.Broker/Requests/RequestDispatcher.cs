using System.Buffers;
using System.Diagnostics;
using System.Reflection;
using Levee.Broker.Admin;
using Levee.Broker.Quotas;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Requests;

/// <summary>
/// The one seam every request passes before its handler: the API must be served on the connection's listener and
/// in the version asked, and the principal must hold what the handler declares (<see cref="ApiAuthorizationAttribute"/>);
/// then the handler runs. A refused or failed request is answered with its API's error response and logged once;
/// an API not served here, or not on this listener, closes the connection (<see cref="UnsupportedRequestException"/>),
/// as Kafka does. Quotas are counted here too, after authorization, so that no handler can be reached around them
/// (Produce here; Fetch in its handler, which alone knows what it serves).
/// </summary>
public sealed partial class RequestDispatcher
{
    private readonly IApiHandler?[] _byKey;
    private readonly ApiAuthorizationAttribute[] _authorization;
    private readonly RequestAuthorizer _authorizer;
    private readonly BrokerQuotas _quotas;
    private readonly TenantUsage _usage;
    private readonly BrokerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates a dispatcher over <paramref name="handlers"/>, the last one per API key, deciding with <paramref name="authorizer"/>.</summary>
    /// <exception cref="InvalidOperationException">A handler declares no authorization.</exception>
    public RequestDispatcher(IEnumerable<IApiHandler> handlers, RequestAuthorizer authorizer, BrokerQuotas quotas, TenantUsage usage, BrokerMetrics metrics, TimeProvider time, ILogger<RequestDispatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        _authorizer = authorizer;
        _quotas = quotas;
        _usage = usage;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        // A handler registered later for the same API replaces the earlier one (a test's own, after the broker's).
        Handlers = [.. handlers.GroupBy(h => h.Key).Select(g => g.Last()).OrderBy(h => h.Key)];
        _byKey = new IApiHandler?[Handlers.Max(h => (int)h.Key) + 1];
        _authorization = new ApiAuthorizationAttribute[_byKey.Length];
        foreach (var handler in Handlers)
        {
            _byKey[(int)handler.Key] = handler;
            _authorization[(int)handler.Key] = DeclaredAuthorization(handler)
                ?? throw new InvalidOperationException($"{handler.GetType().Name} ({handler.Key}) declares no authorization: mark it with an {nameof(ApiAuthorizationAttribute)}.");
        }
    }

    /// <summary>The handlers, ordered by API key: what ApiVersions advertises (each listener: those it serves).</summary>
    public IReadOnlyList<IApiHandler> Handlers { get; }

    /// <summary>What <paramref name="handler"/> declares Kafka authorizes for its API, or null if it declares nothing.</summary>
    public static ApiAuthorizationAttribute? DeclaredAuthorization(IApiHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return handler.GetType().GetCustomAttributes<ApiAuthorizationAttribute>(inherit: false).FirstOrDefault();
    }

    /// <summary>Handles one request; returns whether a response body was written (see <see cref="IApiHandler.HandleAsync"/>).</summary>
    public async ValueTask<bool> DispatchAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = Stopwatch.GetTimestamp();
        var key = (int)context.ApiKey;
        var handler = key >= 0 && key < _byKey.Length ? _byKey[key] : null;
        if (handler is null)
        {
            throw new UnsupportedRequestException($"API {context.ApiKey} ({key}) is not supported by this broker");
        }

        // Kafka's specs say on which listeners an API is served: the controller's APIs never on a client listener.
        var listener = context.Connection.Listener;
        if (!listener.Serves(context.ApiKey))
        {
            throw new UnsupportedRequestException($"{context.ApiKey} is not served on listener {listener.Name}");
        }

        // On a SASL listener nothing but ApiVersions and the SASL exchange is served before authentication, nor
        // after the session expired (KIP-368): Kafka closes such a connection.
        var connection = context.Connection;
        if (context.ApiKey is not (ApiKey.ApiVersions or ApiKey.SaslHandshake or ApiKey.SaslAuthenticate))
        {
            if (!connection.IsAuthenticated)
            {
                throw new UnsupportedRequestException($"{context.ApiKey} before SASL authentication on listener {listener.Name}");
            }

            if (connection.SessionExpiresAtMs is { } expires && _time.GetUtcNow().ToUnixTimeMilliseconds() > expires)
            {
                throw new UnsupportedRequestException($"{context.ApiKey} after the SASL session of {connection.Principal} expired (connections.max.reauth.ms)");
            }
        }

        // ApiVersions answers any version itself (KIP-511: version 0 with UNSUPPORTED_VERSION when too new).
        if (context.ApiKey != ApiKey.ApiVersions && (context.ApiVersion < handler.MinVersion || context.ApiVersion > handler.MaxVersion))
        {
            throw new UnsupportedRequestException($"{context.ApiKey} v{context.ApiVersion} is not supported (supported: v{handler.MinVersion}-v{handler.MaxVersion})");
        }

        var refusal = Authorize(context, _authorization[key]);
        if (refusal is null && context.ApiKey == ApiKey.Produce && context.Connection.Tenant is { } tenant && _usage.StorageFull(tenant.Tenant.Name) is { } full)
        {
            // A tenant at its plan's storage limit: its Produce is refused, everything else still served (logged once
            // when the tenant reaches the limit and once when it is back under it, not per request).
            refusal = new RequestRefusal(Protocol.ErrorCode.PolicyViolation, full);
        }

        // Produce bytes count against the sender's quota whatever the answer (Kafka records the request's size); the
        // response says how long it is throttled and the connection is not read for that long. A tenant's request first
        // waits for its tenant to be within its plan's rate (BrokerQuotas.AdmitProduceAsync).
        if (refusal is null && context.ApiKey == ApiKey.Produce)
        {
            context.ThrottleTimeMs = await _quotas.AdmitProduceAsync(context, body.Length, context.Aborted).ConfigureAwait(false);
        }

        // The request's own time is measured from here (a wait for admission is not its work) for the request-time
        // quota, recorded by the handler's pipeline once it has its response (ApiHandler).
        context.WorkStarted = Stopwatch.GetTimestamp();
        if (refusal is null)
        {
            context.RequestTimeQuota = _quotas.RequestTime(context);
        }

        var result = await handler.HandleAsync(context, body, output, refusal).ConfigureAwait(false);
        if (refusal is { } refused && refused.Error != Protocol.ErrorCode.PolicyViolation)
        {
            LogRefused(context.Connection.Remote, listener.Name, context.Connection.Principal.ToString(), context.ApiKey, refused.Message);
        }

        if (result.Failure is { } failure)
        {
            LogFailed(failure, context.Connection.Remote, context.ApiKey, context.ApiVersion);
        }

        _metrics.RecordRequest(context.ApiKey, started);
        return result.Responded;
    }

    private RequestRefusal? Authorize(RequestContext context, ApiAuthorizationAttribute declared) =>
        declared is AuthorizeRequestAttribute required && !_authorizer.Authorize(context, required.Operation, required.Resource, AclAuthorizer.ClusterResourceName, required.TenantScoped)
            ? new RequestRefusal(RequestAuthorizer.DeniedError(required.Resource), $"{context.Connection.Principal} is not authorized for {required.Operation} on {required.Resource}.")
            : null;

    [LoggerMessage(EventName = "Refused", Level = LogLevel.Warning, Message = "Refused {ApiKey} from {Remote} on listener {Listener} ({Principal}): {Reason}")]
    private partial void LogRefused(string? remote, string listener, string principal, ApiKey apiKey, string reason);

    [LoggerMessage(EventName = "Failed", Level = LogLevel.Error, Message = "{ApiKey} v{Version} from {Remote} failed; answered with its error response")]
    private partial void LogFailed(Exception exception, string? remote, ApiKey apiKey, short version);
}
