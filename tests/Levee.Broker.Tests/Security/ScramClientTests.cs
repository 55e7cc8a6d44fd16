using System.Text;
using CsCheck;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Tests.Security;

/// <summary>The CLI's SCRAM client (<see cref="ScramClient"/>) against the broker's server side and RFC 7677's example.</summary>
public sealed class ScramClientTests
{
    [Fact]
    public void ClientFinal_MatchesRfc7677sExample()
    {
        var client = new ScramClient(ScramMechanism.ScramSha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        Assert.Equal("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", Encoding.UTF8.GetString(client.ClientFirst()));

        var final = client.ClientFinal("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"u8);

        Assert.Equal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Encoding.UTF8.GetString(final));
        client.VerifyServerFinal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="u8);
    }

    [Fact]
    public void AnyUserAndPassword_LogsIn_AgainstTheBrokersServer_AndAWrongPasswordDoesNot()
    {
        var names = Gen.String[Gen.Char['!', '~'], 1, 12];
        Gen.Select(names, names, Gen.Bool).Sample((user, password, sha512) =>
        {
            var mechanism = sha512 ? ScramMechanism.ScramSha512 : ScramMechanism.ScramSha256;
            var credential = ScramFormatter.CreateCredential(user, mechanism, password);
            Assert.Equal(ScramStep.Succeeded, Exchange(mechanism, credential, user, password));
            Assert.Equal(ScramStep.Failed, Exchange(mechanism, credential, user, password + "x"));
        }, iter: 40);
    }

    [Fact]
    public void AServerWithoutTheCredential_IsNotBelieved()
    {
        var client = new ScramClient(ScramMechanism.ScramSha512, "alice", "s3cret", "abc");
        client.ClientFinal("r=abcdef,s=c2FsdA==,i=4096"u8);
        Assert.Throws<AuthenticationFailedException>(() => client.VerifyServerFinal("v=bm90IGl0"u8));
        Assert.Throws<AuthenticationFailedException>(() => client.VerifyServerFinal("e=invalid-proof"u8));
    }

    [Theory]
    [InlineData("r=xyz,s=c2FsdA==,i=4096")] // the server's nonce does not extend the client's
    [InlineData("r=abc,s=c2FsdA==,i=4096")] // nor adds to it
    [InlineData("r=abcdef,s=c2FsdA==,i=1000")] // fewer iterations than Kafka's minimum
    [InlineData("r=abcdef,s=!!,i=4096")] // a salt that is not base64
    [InlineData("e=unknown-user")]
    [InlineData("garbage")]
    public void AnUnacceptableServerFirstMessage_IsRefused(string serverFirst)
    {
        var client = new ScramClient(ScramMechanism.ScramSha256, "alice", "s3cret", "abc");
        Assert.Throws<AuthenticationFailedException>(() => client.ClientFinal(Encoding.UTF8.GetBytes(serverFirst)));
    }

    private static ScramStep Exchange(ScramMechanism mechanism, UserScramCredentialRecord credential, string user, string password)
    {
        var server = new ScramServer(mechanism, u => u == credential.Name ? credential : null);
        var client = new ScramClient(mechanism, user, password);
        var (first, serverFirst, _) = server.Step(client.ClientFirst());
        Assert.Equal(ScramStep.Continue, first);
        var (outcome, serverFinal, _) = server.Step(client.ClientFinal(serverFirst));
        if (outcome == ScramStep.Succeeded)
        {
            client.VerifyServerFinal(serverFinal);
        }

        return outcome;
    }
}
