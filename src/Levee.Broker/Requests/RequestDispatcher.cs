using System.Buffers;
using Levee.Protocol.Messages;

namespace Levee.Broker.Requests;

/// <summary>Routes a request to the handler of its API key, checking the version against what is advertised.</summary>
public sealed class RequestDispatcher
{
    private readonly IApiHandler?[] _byKey;

    /// <summary>Creates a dispatcher over <paramref name="handlers"/>, one per API key.</summary>
    public RequestDispatcher(IEnumerable<IApiHandler> handlers)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        Handlers = [.. handlers.OrderBy(h => h.Key)];
        _byKey = new IApiHandler?[Handlers.Max(h => (int)h.Key) + 1];
        foreach (var handler in Handlers)
        {
            _byKey[(int)handler.Key] = handler;
        }
    }

    /// <summary>The handlers, ordered by API key: what ApiVersions advertises.</summary>
    public IReadOnlyList<IApiHandler> Handlers { get; }

    /// <summary>Handles one request; see <see cref="IApiHandler.HandleAsync"/>.</summary>
    public ValueTask<bool> DispatchAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(context);
        var key = (int)context.ApiKey;
        var handler = key >= 0 && key < _byKey.Length ? _byKey[key] : null;
        if (handler is null)
        {
            throw new UnsupportedRequestException($"API {context.ApiKey} ({key}) is not supported by this broker");
        }

        // ApiVersions answers any version itself (KIP-511: version 0 with UNSUPPORTED_VERSION when too new).
        if (context.ApiKey != ApiKey.ApiVersions && (context.ApiVersion < handler.MinVersion || context.ApiVersion > handler.MaxVersion))
        {
            throw new UnsupportedRequestException($"{context.ApiKey} v{context.ApiVersion} is not supported (supported: v{handler.MinVersion}-v{handler.MaxVersion})");
        }

        return handler.HandleAsync(context, body, output);
    }
}
