using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Quotas.QuotaTestSupport;

namespace Levee.Broker.Tests.Quotas;

/// <summary>
/// The request-time quota (KIP-124's <c>request_percentage</c>: 100 is one second of request handling per second): a
/// client over it is answered with <c>throttle_time_ms</c>; the time a request waits on others (a long-poll Fetch) is
/// not its own and is not counted.
/// </summary>
public sealed class RequestTimeQuotaTests
{
    [Fact]
    public async Task AClientOverItsRequestPercentage_IsThrottled()
    {
        await using var broker = await TestBroker.StartAsync();
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "levee-tests")], ("request_percentage", 0.01));
        Assert.True(error == Protocol.ErrorCode.None, message);

        // 0.01 % of a thread is 0.1 ms of handling per second: a burst of Metadata requests goes over it quickly.
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var throttled = 0;
        for (var i = 0; i < 5_000 && throttled == 0; i++)
        {
            var response = await client.CallAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
            throttled = response.ThrottleTimeMs;
        }

        Assert.True(throttled > 0, "no Metadata response carried a throttle time");
    }

    [Fact]
    public async Task ALongPollFetch_DoesNotCountItsWaitAsRequestTime()
    {
        await using var broker = await TestBroker.StartAsync();
        await GroupTestSupport.CreateTopicAsync(broker.BootstrapServers, "idle", 1);
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "levee-tests")], ("request_percentage", 1));
        Assert.True(error == Protocol.ErrorCode.None, message);

        // Three long polls of 1.5 s on an empty partition: 4.5 s of waiting would be 45 % of a thread over Kafka's 10 s
        // of measured windows, far over 1 %; the broker's own work for them is a few milliseconds.
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var topicId = broker.Broker.Replicas.Image.TopicsByName["idle"].Id;
        for (var i = 0; i < 3; i++)
        {
            var request = new FetchRequest { MaxWaitMs = 1_500, MinBytes = 1, MaxBytes = 1 << 20, SessionEpoch = -1 };
            var topic = new FetchRequest.FetchTopic { Topic = "idle", TopicId = topicId };
            topic.Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20, LastFetchedEpoch = -1 });
            request.Topics.Add(topic);
            var response = await client.CallAsync<FetchResponse>(ApiKey.Fetch, 13, request);
            Assert.Equal(0, response.ThrottleTimeMs);
        }
    }
}
