using System.Security.Cryptography;
using System.Text;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>
/// The server side of one SCRAM exchange (RFC 5802), as Kafka runs it inside SaslAuthenticate: the client's
/// first message, the server's first (nonce, salt, iterations), the client's final (proof), the server's final
/// (signature). Channel binding is not offered. An unknown user is answered with a made-up salt that is the
/// same on every attempt, and fails at the proof exactly as a wrong password does, so the answers do not tell
/// whether a user exists.
/// </summary>
public sealed class ScramServer
{

    private static readonly byte[] UnknownUserSecret = RandomNumberGenerator.GetBytes(32);
    private readonly ScramMechanism _mechanism;
    private readonly Func<string, UserScramCredentialRecord?> _lookup;
    private State _state = State.ExpectClientFirst;
    private string _clientFirstBare = string.Empty;
    private string _serverFirst = string.Empty;
    private string _nonce = string.Empty;
    private string _gs2Header = string.Empty;
    private UserScramCredentialRecord? _credential;

    /// <summary>An exchange for <paramref name="mechanism"/> whose users are found with <paramref name="lookup"/>.</summary>
    public ScramServer(ScramMechanism mechanism, Func<string, UserScramCredentialRecord?> lookup)
    {
        _ = ScramFormatter.MechanismName(mechanism);
        _mechanism = mechanism;
        _lookup = lookup;
    }

    private enum State
    {
        ExpectClientFirst,
        ExpectClientFinal,
        Done,
    }

    /// <summary>The authenticated user, once <see cref="Step"/> has returned <see cref="ScramStep.Succeeded"/>.</summary>
    public string? User { get; private set; }

    /// <summary>The message every failure is reported with: Kafka's, the same whatever the cause.</summary>
    public string FailureMessage => $"Authentication failed during authentication due to invalid credentials with SASL mechanism {ScramFormatter.MechanismName(_mechanism)}";

    /// <summary>
    /// Takes the client's next message. Returns the server's answer (to send in the SaslAuthenticate
    /// response) and whether the exchange goes on, succeeded, or failed (the reason is for the log only:
    /// the client is told <see cref="FailureMessage"/>).
    /// </summary>
    public (ScramStep Step, byte[] Response, string? Reason) Step(ReadOnlySpan<byte> message)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(message);
        }
        catch (DecoderFallbackException)
        {
            return Fail("the message is not UTF-8");
        }

        return _state switch
        {
            State.ExpectClientFirst => ClientFirst(text),
            State.ExpectClientFinal => ClientFinal(text),
            _ => Fail("the exchange is over"),
        };
    }

    private (ScramStep, byte[], string?) ClientFirst(string text)
    {
        // gs2-header: "n," or "y," (no channel binding), then an optional authzid, then ','.
        if (text.Length < 3 || (text[0] != 'n' && text[0] != 'y') || text[1] != ',')
        {
            return Fail("the client-first message has no valid GS2 header (channel binding is not supported)");
        }

        var authzEnd = text.IndexOf(',', 2);
        if (authzEnd < 0)
        {
            return Fail("the client-first message is truncated");
        }

        _gs2Header = text[..(authzEnd + 1)];
        _clientFirstBare = text[(authzEnd + 1)..];
        var attributes = ScramFormatter.Attributes(_clientFirstBare);
        if (attributes is null || !attributes.TryGetValue('n', out var saslName) || !attributes.TryGetValue('r', out var clientNonce) || clientNonce.Length == 0 || attributes.ContainsKey('m'))
        {
            return Fail("the client-first message lacks a user name or nonce");
        }

        if (_clientFirstBare.Contains("tokenauth=true", StringComparison.Ordinal))
        {
            return Fail("delegation tokens are not supported");
        }

        var user = DecodeSaslName(saslName);
        if (user is null)
        {
            return Fail("the user name is not escaped as RFC 5802 requires");
        }

        var authzid = _gs2Header.Length > 3 && _gs2Header[2..].StartsWith("a=", StringComparison.Ordinal) ? DecodeSaslName(_gs2Header[4..^1]) : null;
        if (authzid is not null && authzid != user)
        {
            return Fail("an authorization id other than the user is not supported");
        }

        User = user;
        _credential = _lookup(user) ?? UnknownUser(user);
        // Alphanumeric, as Kafka's own server nonce: every client parses it.
        _nonce = clientNonce + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(_credential.Salt)},i={_credential.Iterations}";
        _state = State.ExpectClientFinal;
        return (ScramStep.Continue, Encoding.UTF8.GetBytes(_serverFirst), null);
    }

    private (ScramStep, byte[], string?) ClientFinal(string text)
    {
        _state = State.Done;
        var proofAt = text.LastIndexOf(",p=", StringComparison.Ordinal);
        var attributes = ScramFormatter.Attributes(text);
        if (proofAt < 0 || attributes is null || !attributes.TryGetValue('c', out var binding) || !attributes.TryGetValue('r', out var nonce) || !attributes.TryGetValue('p', out var proofText))
        {
            return Fail("the client-final message lacks channel binding, nonce or proof");
        }

        if (binding != Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header)))
        {
            return Fail("the channel binding does not match the GS2 header");
        }

        // Kafka's check: the final nonce ends with the one the server sent. librdkafka up to 2.0 puts its own nonce
        // in front of the server's (which starts with it already), and Kafka accepts that.
        if (!nonce.EndsWith(_nonce, StringComparison.Ordinal))
        {
            return Fail("the nonce is not the one the server sent");
        }

        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(proofText);
        }
        catch (FormatException)
        {
            return Fail("the proof is not base64");
        }

        var credential = _credential!;
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{text[..proofAt]}");
        var clientSignature = ScramFormatter.Hmac(_mechanism, credential.StoredKey, authMessage);
        if (proof.Length != clientSignature.Length)
        {
            return Fail("the proof has the wrong length");
        }

        var clientKey = new byte[proof.Length];
        for (var i = 0; i < proof.Length; i++)
        {
            clientKey[i] = (byte)(proof[i] ^ clientSignature[i]);
        }

        if (!CryptographicOperations.FixedTimeEquals(ScramFormatter.Hash(_mechanism, clientKey), credential.StoredKey))
        {
            return Fail("invalid credentials");
        }

        var serverSignature = ScramFormatter.Hmac(_mechanism, credential.ServerKey, authMessage);
        return (ScramStep.Succeeded, Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(serverSignature)), null);
    }

    private (ScramStep, byte[], string?) Fail(string reason)
    {
        _state = State.Done;
        User = null;
        return (ScramStep.Failed, [], reason);
    }

    // A credential no password matches, with a salt derived from the name, so repeated attempts see the same salt.
    private UserScramCredentialRecord UnknownUser(string user)
    {
        var salt = ScramFormatter.Hmac(ScramMechanism.ScramSha256, UnknownUserSecret, Encoding.UTF8.GetBytes(user));
        var key = RandomNumberGenerator.GetBytes(_mechanism == ScramMechanism.ScramSha512 ? 64 : 32);
        return new UserScramCredentialRecord(user, _mechanism, salt, key, key, ScramFormatter.MinIterations);
    }

    private static string? DecodeSaslName(string name)
    {
        var builder = new StringBuilder(name.Length);
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] != '=')
            {
                builder.Append(name[i]);
                continue;
            }

            if (i + 2 >= name.Length)
            {
                return null;
            }

            var escape = name.Substring(i + 1, 2);
            builder.Append(escape switch { "2C" => ',', "3D" => '=', _ => '\0' });
            if (escape is not ("2C" or "3D"))
            {
                return null;
            }

            i += 2;
        }

        return builder.ToString();
    }
}

/// <summary>Where a SCRAM exchange stands after a message.</summary>
public enum ScramStep
{
    /// <summary>The server answered; the client sends its next message.</summary>
    Continue,

    /// <summary>The client proved its password; the server's final message goes back.</summary>
    Succeeded,

    /// <summary>Authentication failed.</summary>
    Failed,
}
