using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Levee.Tests.Tls;

/// <summary>
/// A certificate authority made at test time, and PEM files in a temporary directory in the layouts Kafka's settings
/// expect: a broker keystore (private key and chain in one file), a CA bundle (truststore, a client's
/// ssl.ca.location), a client's certificate and key. Nothing of it is kept in the repository. Shared by the broker
/// tests and the compatibility tests (linked into both).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey;

    private TestCertificates(string name)
    {
        Directory = Path.Combine(Path.GetTempPath(), "levee-tls-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        CaFile = Path.Combine(Directory, "ca.pem");
        File.WriteAllText(CaFile, Authority.ExportCertificatePem() + "\n");
    }

    /// <summary>The directory holding every file; removed on dispose.</summary>
    public string Directory { get; }

    /// <summary>The CA's certificate.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The CA's certificate as PEM: a broker's ssl.truststore.location, a client's ssl.ca.location.</summary>
    public string CaFile { get; }

    /// <summary>A new CA in a new directory.</summary>
    public static TestCertificates Create(string name = "Levee Test CA") => new(name);

    /// <summary>
    /// Writes a broker keystore (Kafka's PEM keystore: the private key, then the certificate and the CA's) for a server
    /// certificate valid for 127.0.0.1 and localhost, to <paramref name="file"/> in <see cref="Directory"/>; returns
    /// its path and the certificate.
    /// </summary>
    /// <remarks>With <paramref name="password"/>, the key is encrypted (PKCS#8, AES-256), as ssl.key.password expects.</remarks>
    public (string Path, X509Certificate2 Certificate) WriteServerKeystore(string file = "broker.pem", string subject = "CN=levee-broker", string? password = null)
    {
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") };
        return WriteKeyAndChain(file, subject, names.Build(), usages, password);
    }

    /// <summary>Writes a client keystore (key and chain in one file) for <paramref name="subject"/>; returns its path and certificate.</summary>
    public (string Path, X509Certificate2 Certificate) WriteClientKeystore(string subject, string file = "client.pem") =>
        WriteKeyAndChain(file, subject, null, [new Oid("1.3.6.1.5.5.7.3.2")]);

    /// <summary>Writes the client certificate and its key apart (librdkafka's ssl.certificate.location and ssl.key.location).</summary>
    public (string Certificate, string Key) WriteClientFiles(string subject, string name = "client")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = Issue(key, subject, null, [new Oid("1.3.6.1.5.5.7.3.2")]);
        var certificateFile = Path.Combine(Directory, name + ".crt");
        var keyFile = Path.Combine(Directory, name + ".key");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
        return (certificateFile, keyFile);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _caKey.Dispose();
        Authority.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temporary directory left behind does no harm.
        }
    }

    private (string Path, X509Certificate2 Certificate) WriteKeyAndChain(string file, string subject, X509Extension? names, OidCollection usages, string? password = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var certificate = Issue(key, subject, names, usages);
        var path = Path.Combine(Directory, file);

        // Written beside and moved into place, as a rotation would: a reader never sees half a file.
        var staging = path + ".new";
        var keyPem = password is null ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000));
        File.WriteAllText(staging, keyPem + "\n" + certificate.ExportCertificatePem() + "\n" + Authority.ExportCertificatePem() + "\n");
        File.Move(staging, path, overwrite: true);
        return (path, certificate);
    }

    private X509Certificate2 Issue(ECDsa key, string subject, X509Extension? names, OidCollection usages)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        if (names is not null)
        {
            request.CertificateExtensions.Add(names);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Authority, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        return request.Create(Authority, DateTimeOffset.UtcNow.AddMinutes(-5), Authority.NotAfter.AddHours(-1), serial);
    }
}
