using Levee.Broker.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using static Levee.Broker.Tests.Groups.TransactionalOffsetSupport;

namespace Levee.Broker.Tests.Groups;

/// <summary>
/// __consumer_offsets is compacted: once a transaction's marker is written, the cleaner may remove an aborted
/// transaction's records, and the group coordinator must not need them.
/// </summary>
public sealed class TransactionalOffsetCompactionTests
{
    [Fact]
    public async Task AfterCompaction_ACommittedTransactionsOffsetReloads_AndAnAbortedOnesRecordsAreGone()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { TransactionPartitionVerificationEnable = false, OffsetsTopicPartitions = 1, OffsetsTopicSegmentBytes = 16_384, LogCleanerBackoffMs = 50 });
        await CreateTopicAsync(broker.BootstrapServers, "t", 2);
        using (var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            Assert.Equal(ErrorCode.None, await raw.CommitAsync("app", -1, "", "t", 0, 5));
            Assert.Equal(ErrorCode.None, await raw.CommitAsync("app", -1, "", "t", 1, 6));
            Assert.Equal(ErrorCode.None, await raw.TxnCommitAsync("a", "app", 1, 0, "t", 0, 10));
            Assert.Equal(ErrorCode.None, await raw.TxnCommitAsync("b", "app", 2, 0, "t", 1, 99));
            WriteMarker(broker, "app", 1, 0, commit: true, offsetsPartitions: 1);
            WriteMarker(broker, "app", 2, 0, commit: false, offsetsPartitions: 1);

            // Some 300 KB of another group's commits in 16 KiB segments: the cleaner gets to clean the ones above.
            for (var i = 0; i < 2_000; i++)
            {
                Assert.Equal(ErrorCode.None, await raw.CommitAsync("filler", -1, "", "t", i % 2, i));
            }
        }

        Assert.True(broker.Broker.Replicas.Logs.TryGet(new TopicPartition(GroupCoordinator.OffsetsTopic, 0), out var log));
        await WaitUntilAsync(() => log.Size <= 3 * 16_384, TimeSpan.FromSeconds(30), () => $"__consumer_offsets-0 to be compacted (still {log.Size} bytes)");
        Assert.Equal(0, DataBatchesOf(log, producerId: 2));
        Assert.Equal(1, DataBatchesOf(log, producerId: 1));

        await broker.RestartAsync();
        using var reloaded = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        Assert.Equal((ErrorCode.None, 10), await reloaded.FetchAsync("app", "t", 0, requireStable: true));
        Assert.Equal((ErrorCode.None, 6), await reloaded.FetchAsync("app", "t", 1, requireStable: true));
    }

    /// <summary>How many batches of records (not markers) of <paramref name="producerId"/> the log holds.</summary>
    private static int DataBatchesOf(PartitionLog log, long producerId)
    {
        var count = 0;
        var offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var read = log.Read(offset, 1 << 20, log.LogEndOffset, minOneBatch: true);
            if (read.Length == 0)
            {
                break;
            }

            var bytes = new byte[read.Length];
            read.CopyTo(bytes);
            var at = 0;
            while (at + RecordBatchHeader.Size <= bytes.Length)
            {
                var header = new RecordBatchHeader(bytes.AsSpan(at));
                if (header.ProducerId == producerId && !header.IsControl)
                {
                    count++;
                }

                offset = header.LastOffset + 1;
                at += header.TotalSize;
            }
        }

        return count;
    }
}
