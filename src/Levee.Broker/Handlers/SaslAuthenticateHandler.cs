using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// SaslAuthenticate (v0-v2): one SASL token of the mechanism SaslHandshake chose, answered with the server's token.
/// A failure is SASL_AUTHENTICATION_FAILED, after connection.failed.authentication.delay.ms, and the connection is
/// closed once the answer is sent, as Kafka does. v1+ tells the client its session's lifetime (KIP-368).
/// </summary>
[NoAuthorization]
public sealed class SaslAuthenticateHandler(SaslAuthenticator authenticator) : ApiHandler<SaslAuthenticateRequest, SaslAuthenticateResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.SaslAuthenticate;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override SaslAuthenticateRequest Read(ref KafkaReader reader, short version) => SaslAuthenticateRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(SaslAuthenticateResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<SaslAuthenticateResponse?> HandleAsync(RequestContext context, SaslAuthenticateRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var connection = context.Connection;
        if (connection.Sasl is not { RawTokens: false })
        {
            connection.CloseAfterResponse = true;
            return new SaslAuthenticateResponse { ErrorCode = (short)ErrorCode.IllegalSaslState, ErrorMessage = "SaslAuthenticate without a SaslHandshake (v1) before it." };
        }

        var outcome = await authenticator.StepAsync(connection, request.AuthBytes, context.Aborted).ConfigureAwait(false);
        if (outcome.Step == ScramStep.Failed)
        {
            connection.CloseAfterResponse = true;
            return new SaslAuthenticateResponse { ErrorCode = (short)ErrorCode.SaslAuthenticationFailed, ErrorMessage = outcome.ErrorMessage };
        }

        return new SaslAuthenticateResponse { AuthBytes = outcome.Response, SessionLifetimeMs = outcome.SessionLifetimeMs, ErrorMessage = null };
    }

    /// <inheritdoc />
    protected override SaslAuthenticateResponse? ErrorResponse(SaslAuthenticateRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
