using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Storage.Tests;

public sealed class LogManagerTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private LogManager OpenManager(LogManagerOptions? options = null, TimeProvider? time = null) =>
        LogManager.Open(options ?? new LogManagerOptions { DataDirectory = _dir.Path, ClusterId = "test-cluster" }, NullLoggerFactory.Instance, time ?? new ManualTimeProvider());

    [Fact]
    public async Task CleanShutdown_WritesMarkerAndCheckpoints_AndReopenKeepsLogs()
    {
        var a = new TopicPartition("orders", 0);
        var b = new TopicPartition("my-topic.v2", 11);
        await using (var manager = OpenManager())
        {
            Assert.False(manager.HadCleanShutdown);
            manager.GetOrCreate(a).Append(TestBatches.Build(3));
            manager.GetOrCreate(b).Append(TestBatches.Build(5));
        }

        Assert.True(File.Exists(Path.Combine(_dir.Path, ".kafka_cleanshutdown")));
        var recovery = File.ReadAllLines(Path.Combine(_dir.Path, "recovery-point-offset-checkpoint"));
        Assert.Equal("0", recovery[0]);
        Assert.Equal("2", recovery[1]);
        Assert.Equal(["my-topic.v2 11 5", "orders 0 3"], recovery.Skip(2).Order());
        Assert.Equal(["log-start-offset-checkpoint"], Directory.GetFiles(_dir.Path, "log-start*").Select(Path.GetFileName));
        var meta = File.ReadAllText(Path.Combine(_dir.Path, "meta.properties"));
        Assert.Contains("node.id=1\n", meta);
        Assert.Contains("cluster.id=test-cluster\n", meta);
        Assert.Contains("version=1\n", meta);

        await using var reopened = OpenManager();
        Assert.True(reopened.HadCleanShutdown);
        Assert.False(File.Exists(Path.Combine(_dir.Path, ".kafka_cleanshutdown")));
        Assert.Equal(2, reopened.All.Count);
        Assert.True(reopened.TryGet(b, out var log));
        Assert.Equal(5, log.LogEndOffset);
        Assert.Equal(5, log.Append(TestBatches.Build(1)).FirstOffset);
    }

    [Fact]
    public async Task UncleanShutdown_RecoversFromTheCheckpointedRecoveryPoint()
    {
        var tp = new TopicPartition("orders", 0);
        var size = TestBatches.Build(2).Length;
        await using (var manager = OpenManager())
        {
            var log = manager.GetOrCreate(tp);
            log.Append(TestBatches.Build(2));
            log.Append(TestBatches.Build(2));
        }

        // Simulate a crash: no marker, and the tail was torn.
        File.Delete(Path.Combine(_dir.Path, ".kafka_cleanshutdown"));
        using (var file = new FileStream(Path.Combine(_dir.Path, "orders-0", "00000000000000000000.log"), FileMode.Open))
        {
            file.SetLength(size + 30);
        }

        await using var reopened = OpenManager();
        Assert.False(reopened.HadCleanShutdown);
        Assert.True(reopened.TryGet(tp, out var recovered));
        Assert.Equal(2, recovered.LogEndOffset);
    }

    [Fact]
    public async Task LogStartOffset_IsCheckpointedAndRestored()
    {
        var tp = new TopicPartition("orders", 0);
        await using (var manager = OpenManager())
        {
            var log = manager.GetOrCreate(tp);
            log.Append(TestBatches.Build(2));
            log.Append(TestBatches.Build(2));
            log.DeleteRecordsBefore(3);
        }

        Assert.Contains("orders 0 3", File.ReadAllLines(Path.Combine(_dir.Path, "log-start-offset-checkpoint")));
        await using var reopened = OpenManager();
        Assert.True(reopened.TryGet(tp, out var restored));
        Assert.Equal(3, restored.LogStartOffset);
    }

    [Fact]
    public async Task Delete_RemovesTheLogAndItsDirectory()
    {
        var tp = new TopicPartition("orders", 0);
        await using var manager = OpenManager();
        manager.GetOrCreate(tp).Append(TestBatches.Build(1));

        Assert.True(manager.Delete(tp));

        Assert.False(manager.TryGet(tp, out _));
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "orders-0")));
        Assert.False(manager.Delete(tp));
    }

    [Fact]
    public async Task Open_WithAnotherNodeId_Refuses()
    {
        await using (OpenManager())
        {
        }

        Assert.Throws<InvalidOperationException>(() => OpenManager(new LogManagerOptions { DataDirectory = _dir.Path, NodeId = 2 }));
    }

    [Fact]
    public async Task RunMaintenance_AppliesRetentionAndCheckpointsWhenDue()
    {
        var time = new ManualTimeProvider();
        var size = TestBatches.Build(2).Length;
        var options = new LogManagerOptions
        {
            DataDirectory = _dir.Path,
            DefaultConfig = LogConfig.Default with { SegmentBytes = size, RetentionMs = 1000, FileDeleteDelayMs = 0 },
        };
        await using var manager = OpenManager(options, time);
        var log = manager.GetOrCreate(new TopicPartition("orders", 0));
        log.Append(TestBatches.Build(2, timestamp: time.NowMs));
        log.Append(TestBatches.Build(2, timestamp: time.NowMs));
        log.Append(TestBatches.Build(2, timestamp: time.NowMs + 10_000_000));

        manager.RunMaintenance(time.NowMs + 2000); // not yet due (5 minutes)
        Assert.Equal(0, log.LogStartOffset);

        manager.RunMaintenance(time.NowMs + 300_000);
        Assert.Equal(4, log.LogStartOffset);
        Assert.Contains("orders 0 4", File.ReadAllLines(Path.Combine(_dir.Path, "log-start-offset-checkpoint")));
    }

    [Fact]
    public async Task GetOrCreate_WithIllegalTopicName_Throws()
    {
        await using var manager = OpenManager();
        Assert.Throws<ArgumentException>(() => manager.GetOrCreate(new TopicPartition("bad/name", 0)));
        Assert.Throws<ArgumentException>(() => manager.GetOrCreate(new TopicPartition("..", 0)));
        Assert.Throws<ArgumentException>(() => manager.GetOrCreate(new TopicPartition(new string('a', 250), 0)));
    }
}

public sealed class TopicPartitionTests
{
    [Theory]
    [InlineData("orders-0", "orders", 0)]
    [InlineData("my-topic-12", "my-topic", 12)]
    [InlineData("a.b_c-3", "a.b_c", 3)]
    public void TryParseDirectoryName_SplitsAtTheLastDash(string name, string topic, int partition)
    {
        Assert.True(TopicPartition.TryParseDirectoryName(name, out var tp));
        Assert.Equal(new TopicPartition(topic, partition), tp);
        Assert.Equal(name, tp.Value.DirectoryName);
    }

    [Theory]
    [InlineData("orders")]
    [InlineData("orders-")]
    [InlineData("orders-x")]
    [InlineData("orders-0.abc-delete")]
    [InlineData("-1")]
    public void TryParseDirectoryName_RejectsNonPartitionDirectories(string name) =>
        Assert.False(TopicPartition.TryParseDirectoryName(name, out _));

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("has space")]
    [InlineData("ünïcode")]
    public void IsValidTopicName_RejectsWhatKafkaRejects(string topic) =>
        Assert.False(TopicPartition.IsValidTopicName(topic, out _));

    [Fact]
    public void IsValidTopicName_Accepts249Characters_Not250()
    {
        Assert.True(TopicPartition.IsValidTopicName(new string('x', 249), out _));
        Assert.False(TopicPartition.IsValidTopicName(new string('x', 250), out _));
    }
}
