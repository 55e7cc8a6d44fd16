using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// Issue 17: deleting topics of thousands of partitions answers at once and removes the files in the
/// background, so SIGTERM right after it stops the broker cleanly within its usual bound, and what was left
/// is removed after the next start without delaying it.
/// </summary>
public sealed class MassDeletionTests
{
    private const int Topics = 4;
    private const int PartitionsPerTopic = 1_500;

    [Fact]
    public async Task Sigterm_RightAfterDeletingThousandsOfPartitions_StopsCleanly_AndTheNextStartRemovesTheRest()
    {
        await using var levee = await LeveeProcess.StartAsync();
        var names = Enumerable.Range(0, Topics).Select(i => $"mass-{i}").ToList();
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = levee.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync(names.Select(n => new TopicSpecification { Name = n, NumPartitions = PartitionsPerTopic, ReplicationFactor = 1 }), new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(120), OperationTimeout = TimeSpan.FromSeconds(120) });
            Assert.Equal(Topics * PartitionsPerTopic, Directory.EnumerateDirectories(levee.DataDir, "mass-*").Count());

            // Every deletion is answered as done (not REQUEST_TIMED_OUT), the topics are gone from Metadata.
            await admin.DeleteTopicsAsync(names, new DeleteTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(60), OperationTimeout = TimeSpan.FromSeconds(60) });
            Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic.StartsWith("mass-", StringComparison.Ordinal));
        }

        // TerminateAsync allows 30 s, the bound of any clean stop.
        var exitCode = await levee.TerminateAsync();

        Assert.Equal(0, exitCode);
        Assert.Contains("stopped cleanly", levee.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", levee.Output, StringComparison.Ordinal);

        // Whatever the background removal had not reached is removed after the next start.
        await levee.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Directory.EnumerateDirectories(levee.DataDir, "mass-*").Any() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.Empty(Directory.EnumerateDirectories(levee.DataDir, "mass-*"));
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers }).Build();
        var delivered = await producer.ProduceAsync("after-mass-deletion", new Message<Null, string> { Value = "still serving" });
        Assert.Equal(0, delivered.Offset.Value);
    }
}
