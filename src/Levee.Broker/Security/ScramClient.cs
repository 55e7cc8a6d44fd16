using System.Security.Cryptography;
using System.Text;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>
/// The client side of one SCRAM exchange (RFC 5802, no channel binding), as Kafka's clients run it: client-first,
/// then the client-final message with its proof for the server-first message, then a check of the server's signature
/// in the server-final message. The server's nonce must extend the client's, and its iteration count be at least
/// Kafka's minimum (a server asking for fewer would weaken the password's hash).
/// </summary>
public sealed class ScramClient
{
    private readonly ScramMechanism _mechanism;
    private readonly string _user;
    private readonly byte[] _password;
    private readonly string _clientNonce;
    private string? _authMessage;
    private byte[]? _saltedPassword;

    /// <summary>An exchange for <paramref name="user"/> with <paramref name="password"/>, and a random nonce.</summary>
    public ScramClient(ScramMechanism mechanism, string user, string password)
        : this(mechanism, user, password, Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)))
    {
    }

    /// <summary>An exchange with the given client nonce (printable, without a comma).</summary>
    public ScramClient(ScramMechanism mechanism, string user, string password, string clientNonce)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentException.ThrowIfNullOrEmpty(clientNonce);
        _ = ScramFormatter.MechanismName(mechanism);
        _mechanism = mechanism;
        _user = user;
        _password = Encoding.UTF8.GetBytes(password);
        _clientNonce = clientNonce;
    }

    private string ClientFirstBare => $"n={Escape(_user)},r={_clientNonce}";

    /// <summary>The client-first message.</summary>
    public byte[] ClientFirst() => Encoding.UTF8.GetBytes("n,," + ClientFirstBare);

    /// <summary>The client-final message (with the proof) for <paramref name="serverFirst"/>.</summary>
    /// <exception cref="AuthenticationFailedException">The server-first message is malformed or unacceptable.</exception>
    public byte[] ClientFinal(ReadOnlySpan<byte> serverFirst)
    {
        var text = Encoding.UTF8.GetString(serverFirst);
        var attributes = ScramFormatter.Attributes(text) ?? throw new AuthenticationFailedException("the server-first message is malformed");
        if (!attributes.TryGetValue('r', out var nonce) || !attributes.TryGetValue('s', out var salt) || !attributes.TryGetValue('i', out var count))
        {
            throw new AuthenticationFailedException(attributes.TryGetValue('e', out var error) ? $"the server refused: {error}" : "the server-first message lacks a nonce, salt or iteration count");
        }

        if (!nonce.StartsWith(_clientNonce, StringComparison.Ordinal) || nonce.Length == _clientNonce.Length)
        {
            throw new AuthenticationFailedException("the server's nonce does not extend the client's");
        }

        if (!int.TryParse(count, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var iterations) || iterations < ScramFormatter.MinIterations)
        {
            throw new AuthenticationFailedException($"the server asks for {count} iterations, fewer than {ScramFormatter.MinIterations}");
        }

        byte[] saltBytes;
        try
        {
            saltBytes = Convert.FromBase64String(salt);
        }
        catch (FormatException)
        {
            throw new AuthenticationFailedException("the server's salt is not base64");
        }

        var withoutProof = $"c=biws,r={nonce}";
        _authMessage = $"{ClientFirstBare},{text},{withoutProof}";
        _saltedPassword = ScramFormatter.SaltedPassword(_mechanism, _password, saltBytes, iterations);
        var clientKey = ScramFormatter.Hmac(_mechanism, _saltedPassword, "Client Key"u8);
        var storedKey = ScramFormatter.Hash(_mechanism, clientKey);
        var signature = ScramFormatter.Hmac(_mechanism, storedKey, Encoding.UTF8.GetBytes(_authMessage));
        for (var i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] ^= signature[i];
        }

        return Encoding.UTF8.GetBytes($"{withoutProof},p={Convert.ToBase64String(clientKey)}");
    }

    /// <summary>Checks the server-final message: the server proves it holds the credential.</summary>
    /// <exception cref="AuthenticationFailedException">The server refused, or its signature is wrong.</exception>
    public void VerifyServerFinal(ReadOnlySpan<byte> serverFinal)
    {
        if (_authMessage is null || _saltedPassword is null)
        {
            throw new InvalidOperationException("The server-final message comes after the client-final one.");
        }

        var attributes = ScramFormatter.Attributes(Encoding.UTF8.GetString(serverFinal)) ?? throw new AuthenticationFailedException("the server-final message is malformed");
        if (attributes.TryGetValue('e', out var error))
        {
            throw new AuthenticationFailedException($"the server refused: {error}");
        }

        var serverKey = ScramFormatter.Hmac(_mechanism, _saltedPassword, "Server Key"u8);
        var expected = ScramFormatter.Hmac(_mechanism, serverKey, Encoding.UTF8.GetBytes(_authMessage));
        if (!attributes.TryGetValue('v', out var signature) || !CryptographicOperations.FixedTimeEquals(expected, TryBase64(signature)))
        {
            throw new AuthenticationFailedException("the server's signature is wrong: it does not hold this user's credential");
        }
    }

    private static byte[] TryBase64(string text)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return [];
        }
    }

    private static string Escape(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);
}

/// <summary>A SASL exchange the client side gave up on: the server refused, or could not prove itself.</summary>
public sealed class AuthenticationFailedException(string message) : Exception(message);
