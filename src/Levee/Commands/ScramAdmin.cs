using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Commands.Clusters;
using ScramMechanism = Levee.Cluster.Metadata.ScramMechanism;

namespace Levee.Commands;

/// <summary>
/// SCRAM credentials over the Kafka protocol, as `kafka-configs --alter --add-config SCRAM-...` sets them:
/// AlterUserScramCredentials through Confluent.Kafka's admin client, which salts and hashes the password on the
/// client side (the password itself never travels). Shared by `levee users` and `levee tenants`.
/// </summary>
internal static class ScramAdmin
{
    /// <summary>PBKDF2 iterations of a credential when none is asked for.</summary>
    public const int DefaultIterations = 8192;

    /// <summary>An admin client for <paramref name="bootstrap"/> (default 127.0.0.1:9092), with the settings of <paramref name="commandConfig"/>.</summary>
    public static IAdminClient Create(string? bootstrap, string? commandConfig, int timeoutSeconds)
    {
        var config = new AdminClientConfig { BootstrapServers = bootstrap ?? "127.0.0.1:9092", SocketTimeoutMs = timeoutSeconds * 1000 };
        return new AdminClientBuilder(ClientProperties.Apply(config, commandConfig)).Build();
    }

    /// <summary>Creates or replaces <paramref name="user"/>'s credential for <paramref name="mechanism"/>.</summary>
    /// <exception cref="ClusterCommandException">The broker refused, or did not answer.</exception>
    public static Task UpsertAsync(IAdminClient admin, string user, ScramMechanism mechanism, string password, int iterations) =>
        AlterAsync(admin, new UserScramCredentialUpsertion
        {
            User = user,
            ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ClientMechanism(mechanism), Iterations = iterations },
            Password = Encoding.UTF8.GetBytes(password),
        });

    /// <summary>Deletes <paramref name="user"/>'s credential for <paramref name="mechanism"/>.</summary>
    /// <exception cref="ClusterCommandException">The broker refused (no such credential, say), or did not answer.</exception>
    public static Task DeleteAsync(IAdminClient admin, string user, ScramMechanism mechanism) =>
        AlterAsync(admin, new UserScramCredentialDeletion { User = user, Mechanism = ClientMechanism(mechanism) });

    private static async Task AlterAsync(IAdminClient admin, UserScramCredentialAlteration alteration)
    {
        try
        {
            await admin.AlterUserScramCredentialsAsync([alteration]).ConfigureAwait(false);
        }
        catch (AlterUserScramCredentialsException e)
        {
            throw new ClusterCommandException($"{e.Results[0].User}: {e.Results[0].Error.Reason} ({e.Results[0].Error.Code})");
        }
        catch (KafkaException e)
        {
            throw new ClusterCommandException(e.Error.Reason);
        }
    }

    private static Confluent.Kafka.Admin.ScramMechanism ClientMechanism(ScramMechanism mechanism) =>
        mechanism == ScramMechanism.ScramSha256 ? Confluent.Kafka.Admin.ScramMechanism.ScramSha256 : Confluent.Kafka.Admin.ScramMechanism.ScramSha512;
}
