using System.Text;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Tests.Security;

public sealed class ScramTests
{
    // RFC 7677 section 3: user "user", password "pencil".
    private const string ClientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    private const string ServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private const string ClientFinalWithoutProof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    [Fact]
    public void KeyDerivation_MatchesRfc7677sExample()
    {
        var credential = ScramFormatter.CreateCredential("user", ScramMechanism.ScramSha256, "pencil"u8, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        var authMessage = Encoding.UTF8.GetBytes($"{ClientFirstBare},{ServerFirst},{ClientFinalWithoutProof}");

        var proof = Proof(credential, "pencil", authMessage);
        var serverSignature = ScramFormatter.Hmac(ScramMechanism.ScramSha256, credential.ServerKey, authMessage);

        Assert.Equal("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Convert.ToBase64String(proof));
        Assert.Equal("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", Convert.ToBase64String(serverSignature));
    }

    [Theory]
    [InlineData(ScramMechanism.ScramSha256)]
    [InlineData(ScramMechanism.ScramSha512)]
    public void Exchange_WithTheRightPassword_Succeeds_AndTheServerProvesItKnowsTheKey(ScramMechanism mechanism)
    {
        var credential = ScramFormatter.CreateCredential("alice,=x", mechanism, "s3cret");
        var server = new ScramServer(mechanism, u => u == "alice,=x" ? credential : null);

        var (outcome, response, reason) = RunClient(server, "alice=2C=3Dx", "s3cret", mechanism, out var authMessage);

        Assert.True(outcome == ScramStep.Succeeded, reason);
        Assert.Equal("alice,=x", server.User);
        Assert.Equal("v=" + Convert.ToBase64String(ScramFormatter.Hmac(mechanism, credential.ServerKey, authMessage)), Encoding.UTF8.GetString(response));
    }

    [Fact]
    public void AFinalNonceWithTheClientsNoncePutInFrontAgain_IsAccepted_AsKafkaAcceptsLibrdkafkas()
    {
        var credential = ScramFormatter.CreateCredential("dan", ScramMechanism.ScramSha512, "pw");
        var server = new ScramServer(ScramMechanism.ScramSha512, _ => credential);

        var (outcome, _, reason) = RunClient(server, "dan", "pw", ScramMechanism.ScramSha512, out _, librdkafkaNonce: true);

        Assert.True(outcome == ScramStep.Succeeded, reason);
    }

    [Fact]
    public void WrongPassword_AndUnknownUser_FailAlike_AndTheUnknownUsersSaltIsStable()
    {
        var credential = ScramFormatter.CreateCredential("bob", ScramMechanism.ScramSha512, "right");
        UserScramCredentialRecord? Lookup(string u) => u == "bob" ? credential : null;

        var wrong = new ScramServer(ScramMechanism.ScramSha512, Lookup);
        var unknown = new ScramServer(ScramMechanism.ScramSha512, Lookup);
        var (wrongOutcome, wrongResponse, _) = RunClient(wrong, "bob", "wrong", ScramMechanism.ScramSha512, out _);
        var (unknownOutcome, unknownResponse, _) = RunClient(unknown, "nobody", "wrong", ScramMechanism.ScramSha512, out _);

        Assert.Equal(ScramStep.Failed, wrongOutcome);
        Assert.Equal(ScramStep.Failed, unknownOutcome);
        Assert.Equal(wrongResponse, unknownResponse);
        Assert.Equal(wrong.FailureMessage, unknown.FailureMessage);
        Assert.Equal(Salt(ScramMechanism.ScramSha512, "nobody", Lookup), Salt(ScramMechanism.ScramSha512, "nobody", Lookup));
        Assert.Equal(credential.Iterations, int.Parse(First(ScramMechanism.ScramSha512, "nobody", Lookup).Split(",i=")[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("")]
    [InlineData("n")]
    [InlineData("p=tls-unique,,n=bob,r=abc")]
    [InlineData("n,,r=abc")]
    [InlineData("n,,n=bob")]
    [InlineData("n,,n=b=ZZob,r=abc")]
    [InlineData("n,a=eve,n=bob,r=abc")]
    [InlineData("n,,n=bob,r=abc,tokenauth=true")]
    public void MalformedClientFirstMessages_FailWithoutThrowing(string message)
    {
        var server = new ScramServer(ScramMechanism.ScramSha256, _ => null);

        var (outcome, response, reason) = server.Step(Encoding.UTF8.GetBytes(message));

        Assert.Equal(ScramStep.Failed, outcome);
        Assert.Empty(response);
        Assert.NotNull(reason);
    }

    [Fact]
    public void Verify_ChecksAPlainPasswordAgainstTheStoredCredential()
    {
        var credential = ScramFormatter.CreateCredential("carol", ScramMechanism.ScramSha256, "plain-pw");

        Assert.True(ScramFormatter.Verify(credential, "plain-pw"u8));
        Assert.False(ScramFormatter.Verify(credential, "plain-pW"u8));
    }

    private static string First(ScramMechanism mechanism, string user, Func<string, UserScramCredentialRecord?> lookup) =>
        Encoding.UTF8.GetString(new ScramServer(mechanism, lookup).Step(Encoding.UTF8.GetBytes($"n,,n={user},r=nonce")).Response);

    private static string Salt(ScramMechanism mechanism, string user, Func<string, UserScramCredentialRecord?> lookup) =>
        First(mechanism, user, lookup).Split(",s=")[1].Split(",i=")[0];

    private static byte[] Proof(UserScramCredentialRecord credential, string password, byte[] authMessage)
    {
        var mechanism = credential.Mechanism;
        var salted = ScramFormatter.SaltedPassword(mechanism, Encoding.UTF8.GetBytes(password), credential.Salt, credential.Iterations);
        var clientKey = ScramFormatter.Hmac(mechanism, salted, "Client Key"u8);
        var signature = ScramFormatter.Hmac(mechanism, ScramFormatter.Hash(mechanism, clientKey), authMessage);
        return clientKey.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
    }

    // The client side of RFC 5802, as a Kafka client runs it.
    private static (ScramStep Outcome, byte[] Response, string? Reason) RunClient(ScramServer server, string saslName, string password, ScramMechanism mechanism, out byte[] authMessage, bool librdkafkaNonce = false)
    {
        var clientFirstBare = $"n={saslName},r=clientnonce";
        var (step, serverFirstBytes, reason) = server.Step(Encoding.UTF8.GetBytes("n,," + clientFirstBare));
        authMessage = [];
        if (step != ScramStep.Continue)
        {
            return (step, serverFirstBytes, reason);
        }

        var serverFirst = Encoding.UTF8.GetString(serverFirstBytes);
        var fields = serverFirst.Split(',').ToDictionary(f => f[0], f => f[2..]);
        var finalWithoutProof = librdkafkaNonce ? $"c=biws,r=clientnonce{fields['r']}" : $"c=biws,r={fields['r']}";
        authMessage = Encoding.UTF8.GetBytes($"{clientFirstBare},{serverFirst},{finalWithoutProof}");
        var salted = ScramFormatter.SaltedPassword(mechanism, Encoding.UTF8.GetBytes(password), Convert.FromBase64String(fields['s']), int.Parse(fields['i'], System.Globalization.CultureInfo.InvariantCulture));
        var clientKey = ScramFormatter.Hmac(mechanism, salted, "Client Key"u8);
        var signature = ScramFormatter.Hmac(mechanism, ScramFormatter.Hash(mechanism, clientKey), authMessage);
        var proof = Convert.ToBase64String(clientKey.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray());
        return server.Step(Encoding.UTF8.GetBytes($"{finalWithoutProof},p={proof}"));
    }
}
