using System.Buffers;
using System.Text.RegularExpressions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ApiVersions: advertises exactly the APIs and versions the dispatcher serves on the listener asked (a client
/// listener leaves out the controller's APIs, as Kafka's does). A request at a version
/// newer than ours gets a version-0 response with UNSUPPORTED_VERSION and our ranges, so the client
/// retries with a version we know (KIP-511), as Kafka does.
/// </summary>
[NoAuthorization]
public sealed partial class ApiVersionsHandler(Func<IReadOnlyList<IApiHandler>> handlers) : IApiHandler
{
    /// <inheritdoc />
    public ApiKey Key => ApiKey.ApiVersions;

    /// <inheritdoc />
    public short MinVersion => 0;

    /// <inheritdoc />
    public short MaxVersion => 4;

    /// <inheritdoc />
    public ValueTask<HandlerResult> HandleAsync(RequestContext context, ReadOnlyMemory<byte> body, IBufferWriter<byte> output, RequestRefusal? refusal)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new ApiVersionsResponse();
        foreach (var handler in handlers().Where(h => context.Connection.Listener.Serves(h.Key)))
        {
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion
            {
                ApiKey = (short)handler.Key,
                MinVersion = handler.MinVersion,
                MaxVersion = handler.MaxVersion,
            });
        }

        short version = context.ApiVersion;
        if (version > MaxVersion || version < MinVersion)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedVersion;
            version = 0;
        }
        else if (version >= 3)
        {
            var reader = new KafkaReader(body);
            var request = ApiVersionsRequest.Read(ref reader, version);
            if (!SoftwareNamePattern().IsMatch(request.ClientSoftwareName) || !SoftwareNamePattern().IsMatch(request.ClientSoftwareVersion))
            {
                response.ErrorCode = (short)ErrorCode.InvalidRequest;
            }
        }

        var writer = new KafkaWriter(output);
        response.Write(ref writer, version);
        return ValueTask.FromResult(new HandlerResult(true, null));
    }

    // Kafka's rule for client software name and version (KIP-511).
    [GeneratedRegex("^[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?$")]
    private static partial Regex SoftwareNamePattern();
}
