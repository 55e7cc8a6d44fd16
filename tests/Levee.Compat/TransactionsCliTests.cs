using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// `levee transactions list|describe|abort` against a started `levee serve`: a Confluent.Kafka transactional producer
/// left with its transaction open is listed and described, and an operator aborts its transaction on the partition,
/// which lets read_committed consumers past it.
/// </summary>
public sealed class TransactionsCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync(null, null, "--set", "super.users=User:ANONYMOUS");

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task OpenTransaction_IsListedAndDescribed_AndAbortingItOnThePartition_ReleasesReadCommittedConsumers()
    {
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _levee.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "hanging", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _levee.BootstrapServers, TransactionalId = "cli-txn" }).Build();
        producer.InitTransactions(TimeSpan.FromSeconds(30));
        producer.BeginTransaction();
        await producer.ProduceAsync("hanging", new Message<string, string> { Key = "k", Value = "never committed" });

        var list = await LeveeCli.RunAsync("transactions", "list", "--bootstrap", _levee.BootstrapServers);
        Assert.True(list.ExitCode == 0, list.StdOut + list.StdErr);
        var line = list.StdOut.Split('\n').Single(l => l.StartsWith("cli-txn ", StringComparison.Ordinal));
        Assert.EndsWith("Ongoing", line.Trim(), StringComparison.Ordinal);

        var describe = await LeveeCli.RunAsync("transactions", "describe", "cli-txn", "--bootstrap", _levee.BootstrapServers);
        Assert.True(describe.ExitCode == 0, describe.StdOut + describe.StdErr);
        Assert.Contains("State:            Ongoing", describe.StdOut, StringComparison.Ordinal);
        Assert.Contains("Partitions:       hanging-0", describe.StdOut, StringComparison.Ordinal);

        var unknown = await LeveeCli.RunAsync("transactions", "describe", "no-such-id", "--bootstrap", _levee.BootstrapServers);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("TransactionalIdNotFound", unknown.StdErr, StringComparison.Ordinal);

        var wrongOffset = await LeveeCli.RunAsync("transactions", "abort", "--topic", "hanging", "--partition", "0", "--start-offset", "7", "--bootstrap", _levee.BootstrapServers);
        Assert.Equal(1, wrongOffset.ExitCode);

        var abort = await LeveeCli.RunAsync("transactions", "abort", "--topic", "hanging", "--partition", "0", "--start-offset", "0", "--bootstrap", _levee.BootstrapServers);
        Assert.True(abort.ExitCode == 0, abort.StdOut + abort.StdErr);
        Assert.Contains("Aborted the transaction of producer", abort.StdOut, StringComparison.Ordinal);

        // The partition's transaction is over: read_committed reaches the end (the marker) and sees nothing.
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _levee.BootstrapServers,
            GroupId = "cli-txn-reader",
            IsolationLevel = IsolationLevel.ReadCommitted,
            EnablePartitionEof = true,
        }).Build();
        consumer.Assign(new TopicPartitionOffset("hanging", 0, Offset.Beginning));
        var first = consumer.Consume(TimeSpan.FromSeconds(30));
        Assert.NotNull(first);
        Assert.True(first.IsPartitionEOF, $"read {first.Message?.Value}");
        Assert.Equal(2, first.Offset.Value);
    }
}
