using Levee.Broker.Network;
using Microsoft.Extensions.Configuration;

namespace Levee.Broker.Tests;

public sealed class BrokerOptionsTests
{
    private const string Voters = "1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095";

    [Fact]
    public void NodesOfOneQuorum_WithoutClusterId_AgreeOnOne()
    {
        var ids = Enumerable.Range(1, 3).Select(node => new BrokerOptions { NodeId = node, QuorumVoters = Voters }.ResolveClusterId()).ToList();

        Assert.NotNull(ids[0]);
        Assert.All(ids, id => Assert.Equal(ids[0], id));
    }

    [Fact]
    public void AGivenClusterId_Wins_AndALoneBrokerGeneratesItsOwn()
    {
        Assert.Equal("abc", new BrokerOptions { QuorumVoters = Voters, ClusterId = "abc" }.ResolveClusterId());
        Assert.Null(new BrokerOptions().ResolveClusterId());
        Assert.Null(new BrokerOptions { QuorumVoters = "1@127.0.0.1:19093" }.ResolveClusterId());
    }

    [Fact]
    public void TopicDefaults_AreReadByEveryBrokerSynonym_CheckedAsTheTopicConfig_AndTheKeysGivenAreKept()
    {
        var options = FromSettings(("log.index.size.max.bytes", "4096"), ("num.partitions", "1"), ("log.retention.hours", "24"));
        Assert.Equal("4096", options.TopicConfigDefaults["segment.index.bytes"]);
        Assert.Equal(("86400000", 24L), (options.TopicConfigDefaults["retention.ms"], options.LogRetentionHours));

        // num.partitions is given at its default: DescribeConfigs still reports it as STATIC_BROKER_CONFIG, as Kafka does.
        Assert.Equal(["log.index.size.max.bytes", "log.retention.hours", "num.partitions"], options.ConfiguredKeys.Order(StringComparer.Ordinal));

        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("log.cleanup.policy", "shred")));
        Assert.Equal("Setting 'log.cleanup.policy' has an invalid value 'shred': must be a list of delete and compact.", error.Message);
    }

    [Fact]
    public void MisspelledKey_IsRefusedNamingItAndTheKeyMeant()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("log.dir", "/data")));
        Assert.Contains("'log.dir'", error.Message, StringComparison.Ordinal);
        Assert.Contains("log.dirs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LogFormatAndLevel_AreTextAndInformationByDefault_AndReadCaseInsensitively()
    {
        var defaults = FromSettings();
        Assert.Equal(Logging.BrokerLogFormat.Text, defaults.LogFormat);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, defaults.LogLevel);

        var set = FromSettings(("log.format", "JSON"), ("log.level", "debug"));
        Assert.Equal(Logging.BrokerLogFormat.Json, set.LogFormat);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, set.LogLevel);
    }

    [Theory]
    [InlineData("log.format", "xml", "text, json")]
    [InlineData("log.format", "1", "text, json")]
    [InlineData("log.level", "verbose", "trace, debug, information, warning, error, critical, none")]
    public void AnotherLogFormatOrLevel_IsRefusedNamingTheChoices(string key, string value, string choices)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings((key, value)));
        Assert.Equal($"Setting '{key}' must be one of {choices}, got '{value}'.", error.Message);
    }

    [Fact]
    public void AuthorizerSettings_AreReadWithKafkasSyntax_AndOffByDefault()
    {
        var defaults = FromSettings();
        Assert.False(defaults.AuthorizerEnabled);
        Assert.False(defaults.AllowEveryoneIfNoAclFound);
        Assert.Empty(defaults.SuperUsers);

        var options = FromSettings(("authorizer.enabled", "true"), ("super.users", "User:admin; User:ops"), ("allow.everyone.if.no.acl.found", "true"));
        Assert.True(options.AuthorizerEnabled);
        Assert.True(options.AllowEveryoneIfNoAclFound);
        Assert.Equal(["User:admin", "User:ops"], options.SuperUsers.Order(StringComparer.Ordinal));

        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("super.users", "admin")));
        Assert.Contains("'super.users'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CompressionTypeAndLevels_AreTopicDefaults_CheckedAsKafkaChecksThem()
    {
        var options = FromSettings(("compression.type", "zstd"), ("compression.zstd.level", "9"));
        Assert.Equal("zstd", options.TopicConfigDefaults["compression.type"]);
        Assert.Equal("9", options.TopicConfigDefaults["compression.zstd.level"]);

        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("compression.type", "zip")));
        Assert.Equal("Setting 'compression.type' has an invalid value 'zip': String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer.", error.Message);
        error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("compression.gzip.level", "10")));
        Assert.Equal("Setting 'compression.gzip.level' has an invalid value '10': Value must be between 1 and 9 or equal to -1.", error.Message);
    }

    [Fact]
    public void MalformedValue_IsRefusedNamingTheKey()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("num.partitions", "six")));
        Assert.Contains("'num.partitions'", error.Message, StringComparison.Ordinal);
        Assert.Contains("six", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnvironmentVariable_IsRefusedOnlyInTheNamespaceOfASetting()
    {
        // A unique prefix keeps this test's variables away from every other test's configuration.
        const string prefix = "LEVEE_SEAM_TEST_";
        Environment.SetEnvironmentVariable(prefix + "HOME", "/somewhere");
        Environment.SetEnvironmentVariable(prefix + "NUM_PARTITIONS", "3");
        try
        {
            var options = BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build());
            Assert.Equal(3, options.DefaultPartitions);

            Environment.SetEnvironmentVariable(prefix + "NUM_PARTITION", "3");
            var error = Assert.Throws<BrokerConfigurationException>(() => BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build()));
            Assert.Contains("'num.partition'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "HOME", null);
            Environment.SetEnvironmentVariable(prefix + "NUM_PARTITIONS", null);
            Environment.SetEnvironmentVariable(prefix + "NUM_PARTITION", null);
        }
    }

    [Fact]
    public void Listeners_WithPortAlsoSet_IsRefused()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("listeners", "PLAINTEXT://127.0.0.1:9092"), ("port", "9093")));
        Assert.Contains("listeners", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultListener_IsOnePlaintextListenerOnHostAndPort()
    {
        var listener = Assert.Single(KafkaListener.Resolve(FromSettings(("host", "127.0.0.2"), ("port", "9999"))));
        Assert.Equal(("PLAINTEXT", "127.0.0.2", 9999, false), (listener.Name, listener.Host, listener.Port, listener.IsInterBroker));
    }

    [Fact]
    public void ClusterWithoutListeners_GetsABrokerListenerOnAFreePort()
    {
        var listeners = KafkaListener.Resolve(new BrokerOptions { QuorumVoters = Voters });
        Assert.Equal(["PLAINTEXT", "BROKER"], listeners.Select(l => l.Name));
        Assert.True(listeners[1].IsInterBroker);
        Assert.Equal(0, listeners[1].Port);
    }

    [Theory]
    [InlineData("PLAINTEXT://127.0.0.1", null, null, "not NAME://host:port")]
    [InlineData("PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", null, null, "twice")]
    [InlineData("INTERNAL://127.0.0.1:9092", null, null, "listener.security.protocol.map")]
    [InlineData("SSL://127.0.0.1:9092", null, null, "set ssl.keystore.location")]
    [InlineData("PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094", "SASL_PLAINTEXT", null, "do not authenticate to each other with SASL")]
    [InlineData("PLAINTEXT://127.0.0.1:9092", "BROKER", null, "inter.broker.listener.name")]
    [InlineData("PLAINTEXT://127.0.0.1:9092", null, "OTHER://h:1", "advertised.listeners")]
    public void MalformedListeners_AreRefusedNamingTheSetting(string listeners, string? interBroker, string? advertised, string expected)
    {
        var options = new BrokerOptions { Listeners = listeners, InterBrokerListenerName = interBroker, AdvertisedListeners = advertised };
        var error = Assert.Throws<BrokerConfigurationException>(() => KafkaListener.Resolve(options));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TlsSettings_AreReadByKafkaNames_AndTheKeyPasswordIsNeverPrinted()
    {
        var options = FromSettings(("ssl.keystore.location", "/k.pem"), ("ssl.truststore.location", "/ca.pem"), ("ssl.client.auth", "required"), ("ssl.key.password", "hunter2"), ("ssl.principal.mapping.rules", "RULE:^CN=(.*)$/$1/,DEFAULT"));
        Assert.Equal("/k.pem", options.SslKeystoreLocation);
        Assert.Equal("/ca.pem", options.SslTruststoreLocation);
        Assert.Equal(SslClientAuth.Required, options.SslClientAuth);
        Assert.Equal("hunter2", options.SslKeyPassword?.Value);
        Assert.DoesNotContain("hunter2", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedTlsSettings_AreRefusedNamingTheSetting()
    {
        Assert.Contains("ssl.client.auth", Assert.Throws<BrokerConfigurationException>(() => FromSettings(("ssl.client.auth", "sometimes"))).Message, StringComparison.Ordinal);
        Assert.Contains("ssl.keystore.type", Assert.Throws<BrokerConfigurationException>(() => Levee.Broker.Security.BrokerTls.Validate(new BrokerOptions { SslKeystoreType = "JKS" })).Message, StringComparison.Ordinal);
        Assert.Contains("ssl.principal.mapping.rules", Assert.Throws<BrokerConfigurationException>(() => Levee.Broker.Security.BrokerTls.Validate(new BrokerOptions { SslPrincipalMappingRules = "RULE:x" })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QueuedMaxRequestBytes_IsReadAndDefaultsToABoundThatFitsTheLargestRequest()
    {
        Assert.Equal(200L * 1024 * 1024, FromSettings(("queued.max.request.bytes", "209715200")).ResolveQueuedMaxRequestBytes());

        var defaults = FromSettings();
        Assert.Null(defaults.QueuedMaxRequestBytes);
        var budget = defaults.ResolveQueuedMaxRequestBytes();
        Assert.InRange(budget, defaults.SocketRequestMaxBytes, Math.Max(defaults.SocketRequestMaxBytes, BrokerOptions.QueuedMaxRequestBytesCeiling));

        // Larger requests allowed: the default budget still fits one.
        var large = new BrokerOptions { SocketRequestMaxBytes = 1024 * 1024 * 1024 };
        Assert.Equal(large.SocketRequestMaxBytes, large.ResolveQueuedMaxRequestBytes());
    }

    [Theory]
    [InlineData("0", "positive")]
    [InlineData("-1", "positive")]
    [InlineData("lots", "must be an integer")]
    [InlineData("1048576", "at least socket.request.max.bytes")]
    public void QueuedMaxRequestBytes_ZeroNegativeMalformedOrBelowTheLargestRequest_IsRefused(string value, string expected)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings(("queued.max.request.bytes", value)));
        Assert.Contains("'queued.max.request.bytes'", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);

        // Options built in code are checked when the broker starts, by the same rule.
        Assert.Throws<BrokerConfigurationException>(() => new BrokerOptions { QueuedMaxRequestBytes = 0 }.ResolveQueuedMaxRequestBytes());
    }

    [Fact]
    public void ConnectionLimits_AreReadByTheirNames_AndDefaultAsInKafka()
    {
        var defaults = FromSettings();
        Assert.Equal(600_000, defaults.ConnectionsMaxIdleMs);
        Assert.Equal(30_000, defaults.RequestArrivalTimeoutMs);
        Assert.Equal(int.MaxValue, defaults.MaxConnections);

        var options = FromSettings(("connections.max.idle.ms", "1000"), ("request.arrival.timeout.ms", "2000"), ("max.connections", "3"));
        Assert.Equal(1000, options.ConnectionsMaxIdleMs);
        Assert.Equal(2000, options.RequestArrivalTimeoutMs);
        Assert.Equal(3, options.MaxConnections);
    }

    [Theory]
    [InlineData("connections.max.idle.ms", "0")]
    [InlineData("connections.max.idle.ms", "-1")]
    [InlineData("request.arrival.timeout.ms", "0")]
    [InlineData("request.arrival.timeout.ms", "-30000")]
    [InlineData("max.connections", "0")]
    [InlineData("max.connections", "-1")]
    public void ConnectionLimits_ZeroOrNegative_AreRefusedNamingTheSetting(string key, string value)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => FromSettings((key, value)));
        Assert.Contains($"'{key}' must be positive", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConnectionLimits_OfOptionsBuiltInCode_AreCheckedByTheSameRule()
    {
        // As when the broker starts.
        new BrokerOptions().CheckConnectionLimits();
        Assert.Throws<BrokerConfigurationException>(() => new BrokerOptions { ConnectionsMaxIdleMs = 0 }.CheckConnectionLimits());
        Assert.Throws<BrokerConfigurationException>(() => new BrokerOptions { RequestArrivalTimeoutMs = -1 }.CheckConnectionLimits());
        Assert.Throws<BrokerConfigurationException>(() => new BrokerOptions { MaxConnections = 0 }.CheckConnectionLimits());
    }

    private static BrokerOptions FromSettings(params (string Key, string Value)[] settings) =>
        BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());
}
