using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Transactions;

/// <summary>DescribeTransactions and ListTransactions over the wire (Confluent.Kafka's .NET admin client has neither).</summary>
internal static class RawTransactions
{
    public static async Task<DescribeTransactionsResponse.TransactionStateData> DescribeAsync(string bootstrap, string transactionalId)
    {
        const short version = 0;
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var request = new DescribeTransactionsRequest { TransactionalIds = [transactionalId] };
        var id = await client.SendAsync(ApiKey.DescribeTransactions, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.DescribeTransactions, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return Assert.Single(DescribeTransactionsResponse.Read(ref reader, version).TransactionStates);
    }

    public static async Task<ListTransactionsResponse> ListAsync(string bootstrap, IEnumerable<string>? states = null, long durationMs = -1)
    {
        const short version = 1;
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var request = new ListTransactionsRequest { StateFilters = [.. states ?? []], DurationFilter = durationMs };
        var id = await client.SendAsync(ApiKey.ListTransactions, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.ListTransactions, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return ListTransactionsResponse.Read(ref reader, version);
    }

    /// <summary>Polls DescribeTransactions until the id is in <paramref name="state"/> (completions run in the background).</summary>
    public static async Task<DescribeTransactionsResponse.TransactionStateData> WaitForStateAsync(string bootstrap, string transactionalId, string state, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var described = await DescribeAsync(bootstrap, transactionalId);
            if (described.TransactionState == state || DateTime.UtcNow > deadline)
            {
                return described;
            }

            await Task.Delay(20);
        }
    }
}
