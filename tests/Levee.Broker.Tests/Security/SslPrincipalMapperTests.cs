using System.Security.Cryptography.X509Certificates;
using Levee.Broker.Security;

namespace Levee.Broker.Tests.Security;

/// <summary>Kafka's ssl.principal.mapping.rules over a client certificate's subject.</summary>
public sealed class SslPrincipalMapperTests
{
    [Fact]
    public void Default_IsTheWholeDistinguishedName()
    {
        Assert.Equal("CN=alice,OU=eng,O=Acme", SslPrincipalMapper.Default.Map("CN=alice,OU=eng,O=Acme"));
        Assert.Equal("CN=alice,OU=eng,O=Acme", SslPrincipalMapper.Parse("DEFAULT").Map("CN=alice,OU=eng,O=Acme"));
        Assert.Equal("CN=alice", SslPrincipalMapper.Parse(null).Map("CN=alice"));
    }

    [Fact]
    public void Rule_ReplacesWithGroups_AndTheFirstMatchingRuleWins()
    {
        // Kafka's documented example: rules separated by commas, patterns that contain commas themselves.
        var mapper = SslPrincipalMapper.Parse("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT");

        Assert.Equal("kafka1", mapper.Map("CN=kafka1,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"));
        Assert.Equal("adminuser@sales", mapper.Map("CN=AdminUser,OU=Sales,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"));
        Assert.Equal("keith", mapper.Map("OU=Eng,CN=Keith,O=Acme"));
        Assert.Equal("OU=Eng,O=Acme", mapper.Map("OU=Eng,O=Acme"));
    }

    [Fact]
    public void Rule_UpperCases_AndRulesMaySitOnSeparateLines()
    {
        var mapper = SslPrincipalMapper.Parse("RULE:^CN=([^,]*),O=Acme$/$1/U\n  RULE:^CN=([^,]*),O=Other$/other-$1/");
        Assert.Equal("ALICE", mapper.Map("CN=alice,O=Acme"));
        Assert.Equal("other-bob", mapper.Map("CN=bob,O=Other"));
    }

    [Fact]
    public void Rule_MustMatchTheWholeName_AndWithoutDefaultNoMatchIsNull()
    {
        var mapper = SslPrincipalMapper.Parse("RULE:CN=([^,]*)/$1/");
        Assert.Null(mapper.Map("CN=alice,O=Acme"));
        Assert.Equal("alice", mapper.Map("CN=alice"));
    }

    [Fact]
    public void Rule_WithAnEscapedSlash_KeepsTheSlash()
    {
        var mapper = SslPrincipalMapper.Parse(@"RULE:^CN=([^,]*),OU=a\/b$/$1\/x/");
        Assert.Equal("alice/x", mapper.Map("CN=alice,OU=a/b"));
    }

    [Theory]
    [InlineData("RULE:^CN=(.*)$/$1")]
    [InlineData("RULE:^CN=(.*$/$1/")]
    [InlineData("NONSENSE")]
    [InlineData("DEFAULT DEFAULT")]
    public void Malformed_IsRefused(string rules)
    {
        Assert.Throws<BrokerConfigurationException>(() => SslPrincipalMapper.Parse(rules));
    }

    [Fact]
    public void Rfc2253_IsMostSpecificFirst_WithoutSpaces_AndEscapesSpecials()
    {
        Assert.Equal(@"CN=alice,OU=eng,O=Acme\, Inc.,C=US", SslPrincipalMapper.Rfc2253(new X500DistinguishedName("CN=alice, OU=eng, O=\"Acme, Inc.\", C=US")));
    }

    [Fact]
    public async Task Rfc2253_AgreesWithOpenSsl_OnACertificate()
    {
        // openssl prints a subject in RFC 2253 form as Java's X500Principal does: an oracle independent of .NET's own
        // idea of name order.
        var name = new X500DistinguishedNameBuilder();
        name.AddCountryOrRegion("US");
        name.AddOrganizationName("Acme, Inc.");
        name.AddOrganizationalUnitName("eng");
        name.AddCommonName("alice");
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var certificate = new CertificateRequest(name.Build(), key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddHours(1));
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, certificate.ExportCertificatePem());
            using var openssl = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("openssl", ["x509", "-in", file, "-noout", "-subject", "-nameopt", "RFC2253"]) { RedirectStandardOutput = true })!;
            var printed = (await openssl.StandardOutput.ReadToEndAsync()).Trim();
            await openssl.WaitForExitAsync();
            Assert.Equal(printed, "subject=" + SslPrincipalMapper.Rfc2253(certificate.SubjectName));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Rfc2253_WritesAnAttributeWithoutKeywordAsOidAndHex_AsJavaDoes()
    {
        // Java's X500Principal knows no keyword for emailAddress in RFC 2253 form (openssl would print emailAddress=).
        Assert.Equal("CN=alice,1.2.840.113549.1.9.1=#1603614062", SslPrincipalMapper.Rfc2253(new X500DistinguishedName("CN=alice, E=a@b")));
    }
}
