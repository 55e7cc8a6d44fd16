using System.Diagnostics;
using Confluent.Kafka;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Xunit.Abstractions;
using static Levee.Broker.Tests.Quotas.QuotaTestSupport;

namespace Levee.Broker.Tests.Quotas;

/// <summary>
/// Byte-rate quotas as Kafka enforces them, with real clients: a producer or consumer flat out above its quota gets
/// its quota's rate, within 10%, over a whole number of Kafka's measurement cycles (quota.window.num x
/// quota.window.size.seconds = 11 s by default; LEVEE_QUOTA_SECONDS sets the length, 33 s unless set).
/// </summary>
public sealed class QuotaThrottlingTests(ITestOutputHelper output)
{
    private static readonly int Seconds = int.TryParse(Environment.GetEnvironmentVariable("LEVEE_QUOTA_SECONDS"), out var s) ? s : 33;

    // One measured span (quota.window.num x quota.window.size.seconds) before a consumer's rate is measured.
    private const int WarmUpSeconds = 11;

    [Fact]
    public async Task Producer_FlatOutOverItsQuota_GetsTheQuotaRate_WithinTenPercent()
    {
        const int quota = 64 * 1024;
        await using var broker = await TestBroker.StartAsync();
        await GroupTestSupport.CreateTopicAsync(broker.BootstrapServers, "metered", 1);
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "metered-producer")], ("producer_byte_rate", quota));
        Assert.True(error == Protocol.ErrorCode.None, message);

        var config = new ProducerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            ClientId = "metered-producer",
            Acks = Acks.All,
            LingerMs = 5,
            BatchSize = 16 * 1024,
            QueueBufferingMaxKbytes = 64,
            MessageTimeoutMs = 120_000,
        };
        var end = TimeSpan.FromSeconds(Seconds);
        var (acknowledged, failed) = FlatOut.Produce(config, "metered", TimeSpan.FromSeconds(WarmUpSeconds), end);
        var rate = acknowledged / end.TotalSeconds;
        output.WriteLine($"producer quota {quota} B/s: acknowledged {rate:F0} B/s of record values over {Seconds} s ({rate / quota:P1}), {failed} failed");
        Assert.Equal(0, failed);
        Assert.InRange(rate / quota, 0.9, 1.1);
    }

    [Fact]
    public async Task Consumer_FlatOutOverItsQuota_GetsTheQuotaRate_WithinTenPercent()
    {
        const int quota = 256 * 1024;
        await using var broker = await TestBroker.StartAsync();
        await GroupTestSupport.CreateTopicAsync(broker.BootstrapServers, "metered", 1);

        // More than the consumer may read in the time: it reads flat out for the whole run.
        var value = new byte[1000];
        var records = (int)(quota * (Seconds + WarmUpSeconds + 15L) / value.Length);
        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 20, BatchSize = 16 * 1024 }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                producer.Produce("metered", new Message<Null, byte[]> { Value = value });
                if (i % 10_000 == 0)
                {
                    producer.Poll(TimeSpan.Zero);
                }
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "metered-consumer")], ("consumer_byte_rate", quota));
        Assert.True(error == Protocol.ErrorCode.None, message);
        var config = new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            ClientId = "metered-consumer",
            GroupId = "metered",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            MaxPartitionFetchBytes = 64 * 1024,
        };
        var end = TimeSpan.FromSeconds(Seconds);
        var consumed = FlatOut.Consume(config, "metered", TimeSpan.FromSeconds(WarmUpSeconds), end);
        var rate = consumed / end.TotalSeconds;
        output.WriteLine($"consumer quota {quota} B/s: consumed {rate:F0} B/s of record values over {Seconds} s ({rate / quota:P1})");
        Assert.InRange(rate / quota, 0.9, 1.1);
    }

    [Fact]
    public async Task ProduceOverQuota_IsAnsweredAtOnceWithThrottleTime_ThenTheConnectionIsMutedForIt_OthersAreNot()
    {
        // Short windows so that the throttle is short: 2 samples of 1 s, a 1 s span at least.
        await using var broker = await TestBroker.StartAsync(o => o with { QuotaWindowNum = 2, QuotaWindowSizeSeconds = 1 });
        await GroupTestSupport.CreateTopicAsync(broker.BootstrapServers, "metered", 1);
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "levee-tests")], ("producer_byte_rate", 10_000));
        Assert.True(error == Protocol.ErrorCode.None, message);

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        const short version = 9;
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [.. Enumerable.Range(0, 30).Select(_ => new RecordData(null, new byte[1000], 0))]);
        var request = new ProduceRequest { Acks = 1, TimeoutMs = 10_000 };
        var topicData = new ProduceRequest.TopicProduceData { Name = "metered" };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = batch });
        request.TopicData.Add(topicData);

        // Over the quota: the records are written and the answer says for how long the client is throttled.
        var answered = await client.CallAsync<ProduceResponse>(ApiKey.Produce, version, request);
        var clock = Stopwatch.StartNew();
        var partition = Assert.Single(Assert.Single(answered.Responses).PartitionResponses);
        Assert.Equal(Protocol.ErrorCode.None, (Protocol.ErrorCode)partition.ErrorCode);
        Assert.InRange(answered.ThrottleTimeMs, 1_000, 2_000);

        // Another connection (another client id) is served meanwhile.
        using (var other = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            var metadata = await other.CallAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
            Assert.Contains(metadata.Topics, t => t.Name == "metered");
            Assert.True(clock.ElapsedMilliseconds < answered.ThrottleTimeMs, "another connection waited for the muted one");
        }

        // This connection's next request is not read before the throttle time is over.
        var next = await client.CallAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
        Assert.Contains(next.Topics, t => t.Name == "metered");
        Assert.True(clock.ElapsedMilliseconds >= answered.ThrottleTimeMs - 50, $"answered after {clock.ElapsedMilliseconds} ms of a {answered.ThrottleTimeMs} ms throttle");
    }
}
