using System.Text;
using Levee.Broker.Quotas;
using Levee.Broker.Requests;
using Levee.Broker.Tenants;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Security;

/// <summary>The SASL exchange of one connection: the mechanism its SaslHandshake chose, and SCRAM's state.</summary>
/// <param name="Mechanism">PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.</param>
/// <param name="RawTokens">
/// True after SaslHandshake v0: the tokens then come as bare size-prefixed frames rather than SaslAuthenticate
/// requests (kafka-python 2.0 authenticates this way), and a failure closes the connection without an answer.
/// </param>
public sealed record SaslSession(string Mechanism, bool RawTokens)
{
    /// <summary>SCRAM's server side, once the client's first message has come.</summary>
    public ScramServer? Scram { get; set; }
}

/// <summary>The outcome of one SASL token.</summary>
/// <param name="Step">Continue, succeeded or failed.</param>
/// <param name="Response">The token to send back (empty for PLAIN).</param>
/// <param name="ErrorMessage">What the client is told when it failed: the same words whatever the cause.</param>
/// <param name="SessionLifetimeMs">KIP-368: how long the session lasts (0: the connection's life).</param>
public readonly record struct SaslOutcome(ScramStep Step, byte[] Response, string? ErrorMessage, long SessionLifetimeMs);

/// <summary>
/// Authenticates SASL connections against the SCRAM credentials of the metadata image, with the mechanisms of
/// <c>sasl.enabled.mechanisms</c>: PLAIN checks the password against the same stored credential (no plaintext
/// password is kept anywhere), SCRAM-SHA-256 and SCRAM-SHA-512 run RFC 5802. A failure is answered after
/// <c>connection.failed.authentication.delay.ms</c> with the same message whether the user exists or not, and
/// logged with a running count but never with the password.
/// </summary>
public sealed partial class SaslAuthenticator(MetadataQuorum quorum, BrokerOptions options, BrokerQuotas quotas, TenantConnections tenantConnections, TimeProvider time, ILogger<SaslAuthenticator> logger)
{
    /// <summary>The mechanism names Levee implements.</summary>
    public static readonly IReadOnlyList<string> Supported = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

    // What an unknown user's PLAIN password is checked against: one derivation, as for a known user.
    private static readonly Lazy<UserScramCredentialRecord> NoSuchUser = new(() => ScramFormatter.CreateCredential("", ScramMechanism.ScramSha512, Guid.NewGuid().ToString(), ScramFormatter.MinIterations));

    private long _failures;

    /// <summary>The mechanisms offered (sasl.enabled.mechanisms), in the configured order.</summary>
    public IReadOnlyList<string> EnabledMechanisms { get; } = [.. options.SaslEnabledMechanisms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToUpperInvariant())];

    /// <summary>Failed authentications since the broker started.</summary>
    public long FailedAuthentications => Interlocked.Read(ref _failures);

    /// <summary>Takes the client's next token on <paramref name="connection"/>, whose SaslHandshake chose the mechanism.</summary>
    public async ValueTask<SaslOutcome> StepAsync(ConnectionState connection, ReadOnlyMemory<byte> token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var session = connection.Sasl ?? throw new InvalidOperationException("No SASL handshake on this connection.");
        // A tenant's PLAIN connection waits for its plan's connection_creation_rate before its password is checked
        // (a PBKDF2 derivation: a tenant opening hundreds of connections at once would otherwise cost a burst of CPU);
        // SCRAM's server side is cheap and is admitted once it succeeds, below.
        var admitted = session.Mechanism == "PLAIN" && connection.Tenant is null && PlainUser(token.Span) is { } claimed
            ? await AdmitConnectionAsync(quorum.Current.Tenants.OfUser(claimed), cancellationToken).ConfigureAwait(false)
            : null;
        var (step, response, user, reason) = session.Mechanism == "PLAIN" ? Plain(token.Span) : Scram(session, token.Span);
        if (step == ScramStep.Continue)
        {
            return new SaslOutcome(step, response, null, 0);
        }

        connection.Sasl = null;
        var principal = step == ScramStep.Succeeded ? new KafkaPrincipal("User", user!) : null;
        if (principal is not null && connection.IsAuthenticated && connection.Principal != principal)
        {
            // KIP-368: a re-authentication may renew the session, never change who the connection is.
            (step, reason) = (ScramStep.Failed, $"re-authentication as {principal} on a connection of {connection.Principal}");
        }

        var message = $"Authentication failed during authentication due to invalid credentials with SASL mechanism {session.Mechanism}";
        var tenant = principal is null ? null : quorum.Current.Tenants.OfUser(principal.Name);
        if (step == ScramStep.Succeeded && tenant is not null && connection.Tenant is null)
        {
            // A tenant's new connection: at most its plan's connection_creation_rate per second (it waits here, before
            // it may send anything), and at most its plan's connections open at once on this broker.
            admitted ??= await AdmitConnectionAsync(tenant, cancellationToken).ConfigureAwait(false);
            var limit = quorum.Current.Plans.GetValueOrDefault(tenant.Plan)?.Limit(Plan.Connections);
            if (!tenantConnections.TryOpen(tenant.Name, limit))
            {
                (step, reason) = (ScramStep.Failed, $"tenant {tenant.Name} already has the {limit} connections its plan allows");
                message = $"The connection limit of this account's plan ({limit}) is reached.";
            }
        }

        if (step == ScramStep.Failed)
        {
            if (admitted is not null && quotas.TenantQuota(quotas.ConnectionCreation, admitted.Name) is { } creation)
            {
                // A refused connection does not count against the tenant's creation rate.
                quotas.ConnectionCreation.Record(creation, -1);
            }

            var count = Interlocked.Increment(ref _failures);
            LogFailed(connection.Remote, connection.Listener.Name, session.Mechanism, count, reason ?? "invalid credentials");
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, options.ConnectionFailedAuthenticationDelayMs)), time, cancellationToken).ConfigureAwait(false);
            return new SaslOutcome(step, [], message, 0);
        }

        var lifetime = options.ConnectionsMaxReauthMs;
        connection.Authenticate(principal!, lifetime > 0 ? time.GetUtcNow().ToUnixTimeMilliseconds() + lifetime : null, tenant);
        LogAuthenticated(connection.Remote, connection.Listener.Name, principal!.ToString(), session.Mechanism);
        return new SaslOutcome(step, response, null, lifetime);
    }

    // Waits for the tenant's connection_creation_rate and counts the connection; returns the tenant (null: none).
    /// <summary>
    /// On an SSL listener, binds a connection whose client certificate maps to a tenant's user (the mapped name is in
    /// the tenant's users) to that tenant, as a SASL login binds a SCRAM user: admitted at its plan's
    /// connection_creation_rate and within its connections on this broker. False when the tenant's connection limit is
    /// reached: the connection is to be closed (logged as a failed authentication). On SASL_SSL, SASL names the principal.
    /// </summary>
    public async ValueTask<bool> BindCertificateAsync(ConnectionState connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.Listener.Protocol != SecurityProtocol.Ssl || quorum.Current.Tenants.OfUser(connection.Principal.Name) is not { } tenant)
        {
            return true;
        }

        await AdmitConnectionAsync(tenant, cancellationToken).ConfigureAwait(false);
        var limit = quorum.Current.Plans.GetValueOrDefault(tenant.Plan)?.Limit(Plan.Connections);
        if (!tenantConnections.TryOpen(tenant.Name, limit))
        {
            LogFailed(connection.Remote, connection.Listener.Name, "SSL", Interlocked.Increment(ref _failures), $"tenant {tenant.Name} already has the {limit} connections its plan allows");
            return false;
        }

        connection.Authenticate(connection.Principal, null, tenant);
        LogAuthenticated(connection.Remote, connection.Listener.Name, connection.Principal.ToString(), "SSL");
        return true;
    }

    private async ValueTask<Tenant?> AdmitConnectionAsync(Tenant? tenant, CancellationToken cancellationToken)
    {
        if (tenant is not null)
        {
            await quotas.AdmitAsync(quotas.ConnectionCreation, tenant.Name, 1, cancellationToken).ConfigureAwait(false);
        }

        return tenant;
    }

    // The authentication id of a PLAIN token ([authzid] NUL authcid NUL passwd), without checking anything else.
    private static string? PlainUser(ReadOnlySpan<byte> token)
    {
        var first = token.IndexOf((byte)0);
        var second = first < 0 ? -1 : token[(first + 1)..].IndexOf((byte)0);
        return second < 0 ? null : Encoding.UTF8.GetString(token.Slice(first + 1, second));
    }

    private (ScramStep Step, byte[] Response, string? User, string? Reason) Plain(ReadOnlySpan<byte> token)
    {
        // RFC 4616: [authzid] NUL authcid NUL passwd.
        var first = token.IndexOf((byte)0);
        var second = first < 0 ? -1 : token[(first + 1)..].IndexOf((byte)0);
        if (first < 0 || second < 0)
        {
            return (ScramStep.Failed, [], null, "the PLAIN message is not authzid NUL user NUL password");
        }

        var authzid = Encoding.UTF8.GetString(token[..first]);
        var user = Encoding.UTF8.GetString(token.Slice(first + 1, second));
        var password = token[(first + 2 + second)..];
        if (user.Length == 0 || (authzid.Length > 0 && authzid != user))
        {
            return (ScramStep.Failed, [], null, "an empty user, or an authorization id other than the user");
        }

        // Checked against the stored SCRAM credential; an unknown user costs the same derivation, so its answer
        // comes no sooner than a wrong password's.
        var image = quorum.Current;
        var credential = Credential(image, user, ScramMechanism.ScramSha512) ?? Credential(image, user, ScramMechanism.ScramSha256);
        var known = credential is not null;
        credential ??= NoSuchUser.Value;
        return ScramFormatter.Verify(credential, password) && known
            ? (ScramStep.Succeeded, [], user, null)
            : (ScramStep.Failed, [], null, "invalid credentials");
    }

    private (ScramStep Step, byte[] Response, string? User, string? Reason) Scram(SaslSession session, ReadOnlySpan<byte> token)
    {
        var mechanism = ScramFormatter.Parse(session.Mechanism);
        session.Scram ??= new ScramServer(mechanism, user => Credential(quorum.Current, user, mechanism));
        var (step, response, reason) = session.Scram.Step(token);
        return (step, response, session.Scram.User, reason);
    }

    private static UserScramCredentialRecord? Credential(MetadataImage image, string user, ScramMechanism mechanism) =>
        image.ScramCredentials.TryGetValue(new ScramCredentialKey(user, mechanism), out var credential) ? credential : null;

    [LoggerMessage(EventName = "Failed", Level = LogLevel.Warning, Message = "Failed authentication #{Count} from {Remote} on listener {Listener} with {Mechanism}: {Reason}")]
    private partial void LogFailed(string? remote, string listener, string mechanism, long count, string reason);

    [LoggerMessage(EventName = "Authenticated", Level = LogLevel.Debug, Message = "Authenticated {Remote} on listener {Listener} as {Principal} with {Mechanism}")]
    private partial void LogAuthenticated(string? remote, string listener, string principal, string mechanism);
}
