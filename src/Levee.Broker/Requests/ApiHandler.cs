using System.Buffers;
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
    /// Handles one request whose body (after the request header) is <paramref name="body"/>. Writes the
    /// response body to <paramref name="output"/> and returns true, or returns false when Kafka sends no
    /// response (Produce with acks=0). Malformed bodies throw <see cref="KafkaProtocolException"/>.
    /// </summary>
    ValueTask<bool> HandleAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output);
}

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
    public async ValueTask<bool> HandleAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = Decode(body, context.ApiVersion);
        var response = await HandleAsync(context, request).ConfigureAwait(false);
        if (response is null)
        {
            return false;
        }

        var writer = new KafkaWriter(output);
        Write(response, ref writer, context.ApiVersion);
        return true;
    }

    /// <summary>Decodes the request body.</summary>
    protected abstract TRequest Read(ref KafkaReader reader, short version);

    /// <summary>Encodes the response body.</summary>
    protected abstract void Write(TResponse response, ref KafkaWriter writer, short version);

    /// <summary>Handles a decoded request; null means no response is sent.</summary>
    protected abstract ValueTask<TResponse?> HandleAsync(RequestContext context, TRequest request);

    private TRequest Decode(ReadOnlyMemory<byte> body, short version)
    {
        var reader = new KafkaReader(body);
        return Read(ref reader, version);
    }
}
