using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// SaslHandshake (v0-v1): the client names its SASL mechanism on a SASL listener. v1 is followed by SaslAuthenticate
/// requests, v0 by bare tokens. Elsewhere, or once authenticated (unless re-authenticating, KIP-368), it is
/// ILLEGAL_SASL_STATE, as Kafka answers it.
/// </summary>
[NoAuthorization]
public sealed class SaslHandshakeHandler(SaslAuthenticator authenticator, BrokerOptions options) : ApiHandler<SaslHandshakeRequest, SaslHandshakeResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.SaslHandshake;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override SaslHandshakeRequest Read(ref KafkaReader reader, short version) => SaslHandshakeRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(SaslHandshakeResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<SaslHandshakeResponse?> HandleAsync(RequestContext context, SaslHandshakeRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var connection = context.Connection;
        var response = new SaslHandshakeResponse { Mechanisms = [.. authenticator.EnabledMechanisms] };
        var reauthenticating = connection.IsAuthenticated && options.ConnectionsMaxReauthMs > 0 && context.ApiVersion >= 1;
        if (!connection.Listener.RequiresSasl || connection.Sasl is not null || (connection.IsAuthenticated && !reauthenticating))
        {
            response.ErrorCode = (short)ErrorCode.IllegalSaslState;
            return ValueTask.FromResult<SaslHandshakeResponse?>(response);
        }

        var mechanism = request.Mechanism.ToUpperInvariant();
        if (!authenticator.EnabledMechanisms.Contains(mechanism) || !SaslAuthenticator.Supported.Contains(mechanism))
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedSaslMechanism;
            return ValueTask.FromResult<SaslHandshakeResponse?>(response);
        }

        connection.Sasl = new SaslSession(mechanism, RawTokens: context.ApiVersion == 0);
        return ValueTask.FromResult<SaslHandshakeResponse?>(response);
    }

    /// <inheritdoc />
    protected override SaslHandshakeResponse? ErrorResponse(SaslHandshakeRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
