using Levee.Broker.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Network;

/// <summary>
/// TLS under a Kafka listener: Kestrel's TLS connection middleware (not HTTP: no ALPN) with the certificate, client
/// authentication and protocol versions of <see cref="BrokerTls"/>, chosen per handshake so a rotated certificate is
/// served at once. A handshake that fails (a plaintext client, garbage, an old protocol, a refused certificate, a
/// timeout) closes that connection with one log line; a client certificate no principal mapping rule matches too.
/// </summary>
public static partial class TlsTransport
{
    private const string Established = "levee.tls.established";
    private const string Refusal = "levee.tls.refusal";

    /// <summary>How long a client has to complete its handshake.</summary>
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Adds TLS to <paramref name="listen"/>, before its connection handler.</summary>
    public static void Use(ListenOptions listen, KafkaListener listener, BrokerTls tls, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(tls);
        listen.Use(next => async connection =>
        {
            await next(connection).ConfigureAwait(false);
            if (!connection.Items.ContainsKey(Established))
            {
                var reason = connection.Items.TryGetValue(Refusal, out var refusal) ? (string)refusal! : "not a TLS 1.2+ client, or no handshake in time";
                LogHandshakeFailed(logger, connection.RemoteEndPoint?.ToString(), listener.Name, reason);
            }
        });
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            HandshakeTimeout = HandshakeTimeout,
            OnConnection = context =>
            {
                var connection = context.Connection;
                return ValueTask.FromResult(tls.ServerOptions(listener, reason => connection.Items[Refusal] = reason));
            },
        });
        listen.Use(next => connection =>
        {
            connection.Items[Established] = true;
            var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
            if (tls.PrincipalOf(certificate) is not { } principal)
            {
                LogNoRuleMatches(logger, connection.RemoteEndPoint?.ToString(), listener.Name, SslPrincipalMapper.Rfc2253(certificate!.SubjectName));
                return Task.CompletedTask;
            }

            connection.Features.Set(new TlsPeer(principal));
            return next(connection);
        });
    }

    [LoggerMessage(EventName = "HandshakeFailed", Level = LogLevel.Warning, Message = "Closing connection from {Remote} on TLS listener {Listener}: the TLS handshake failed: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string? remote, string listener, string reason);

    [LoggerMessage(EventName = "NoRuleMatches", Level = LogLevel.Warning, Message = "Closing connection from {Remote} on TLS listener {Listener}: no ssl.principal.mapping.rules rule matches the client certificate's subject '{Subject}'")]
    private static partial void LogNoRuleMatches(ILogger logger, string? remote, string listener, string subject);
}
