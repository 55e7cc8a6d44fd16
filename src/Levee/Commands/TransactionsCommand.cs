using System.CommandLine;
using System.Globalization;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Commands;

/// <summary>
/// `levee transactions list|describe|abort`, what Kafka's kafka-transactions.sh does: the transactional ids every
/// broker coordinates (ListTransactions), one id's state from its coordinator (FindCoordinator, DescribeTransactions),
/// and the abort of a hanging transaction on one partition: the producer whose open transaction starts at the given
/// offset (DescribeProducers on the partition's leader) gets an ABORT marker there (WriteTxnMarkers, CLUSTER_ACTION).
/// </summary>
internal static class TransactionsCommand
{
    private const short ListVersion = 1;
    private const short DescribeVersion = 0;
    private const short FindCoordinatorVersion = 4;
    private const short DescribeProducersVersion = 0;
    private const short WriteTxnMarkersVersion = 1;

    public static Command Create()
    {
        var transactions = new Command("transactions", "List and describe transactions, and abort a hanging one (over the Kafka protocol).");
        transactions.Subcommands.Add(ListCommand());
        transactions.Subcommands.Add(DescribeCommand());
        transactions.Subcommands.Add(AbortCommand());
        return transactions;
    }

    private static Command ListCommand()
    {
        var (bootstrap, dir, commandConfig) = (ClusterCommand.BootstrapOption(), ClusterCommand.DirOption(), ClientProperties.Option());
        var command = new Command("list", "Every transactional id, with its coordinator, producer id and state.") { bootstrap, dir, commandConfig };
        command.SetAction((parse, _) => RunAsync(parse, bootstrap, dir, commandConfig, async (servers, security, cancel) =>
        {
            var cluster = await ClusterAdmin.DescribeAsync(servers, security, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var rows = new List<(string Id, int Coordinator, long ProducerId, string State)>();
            foreach (var broker in cluster.Brokers)
            {
                await using var client = ClusterAdmin.Connect($"{broker.Host}:{broker.Port}", "levee-transactions", security);
                var response = await client.SendAsync<ListTransactionsRequest, ListTransactionsResponse>(ApiKey.ListTransactions, ListVersion, new ListTransactionsRequest(), cancel).ConfigureAwait(false);
                Check((ErrorCode)response.ErrorCode, null);
                rows.AddRange(response.TransactionStates.Select(t => (t.TransactionalId, broker.Id, t.ProducerId, t.TransactionState)));
            }

            Console.WriteLine($"{"TransactionalId",-40} {"Coordinator",11} {"ProducerId",12} State");
            foreach (var row in rows.OrderBy(r => r.Id, StringComparer.Ordinal))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{row.Id,-40} {row.Coordinator,11} {row.ProducerId,12} {row.State}"));
            }
        }));
        return command;
    }

    private static Command DescribeCommand()
    {
        var (bootstrap, dir, commandConfig) = (ClusterCommand.BootstrapOption(), ClusterCommand.DirOption(), ClientProperties.Option());
        var id = new Argument<string>("TRANSACTIONAL_ID") { Description = "The transactional id." };
        var command = new Command("describe", "One transactional id: coordinator, producer id and epoch, state, timeout, start time and partitions.") { id, bootstrap, dir, commandConfig };
        command.SetAction((parse, _) => RunAsync(parse, bootstrap, dir, commandConfig, async (servers, security, cancel) =>
        {
            var transactionalId = parse.GetValue(id)!;
            var (coordinator, endpoint) = await FindCoordinatorAsync(servers, security, transactionalId, cancel).ConfigureAwait(false);
            await using var client = ClusterAdmin.Connect(endpoint, "levee-transactions", security);
            var response = await client.SendAsync<DescribeTransactionsRequest, DescribeTransactionsResponse>(ApiKey.DescribeTransactions, DescribeVersion, new DescribeTransactionsRequest { TransactionalIds = [transactionalId] }, cancel).ConfigureAwait(false);
            var state = response.TransactionStates.Single();
            Check((ErrorCode)state.ErrorCode, $"Transactional id '{transactionalId}'");
            Console.WriteLine($"TransactionalId:  {state.TransactionalId}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Coordinator:      {coordinator}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ProducerId:       {state.ProducerId}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ProducerEpoch:    {state.ProducerEpoch}"));
            Console.WriteLine($"State:            {state.TransactionState}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TimeoutMs:        {state.TransactionTimeoutMs}"));
            Console.WriteLine($"StartTime:        {(state.TransactionStartTimeMs < 0 ? "-" : DateTimeOffset.FromUnixTimeMilliseconds(state.TransactionStartTimeMs).ToString("O", CultureInfo.InvariantCulture))}");
            Console.WriteLine($"Partitions:       {string.Join(", ", state.Topics.SelectMany(t => t.Partitions.Select(p => $"{t.Topic}-{p}")))}");
        }));
        return command;
    }

    private static Command AbortCommand()
    {
        var (bootstrap, dir, commandConfig) = (ClusterCommand.BootstrapOption(), ClusterCommand.DirOption(), ClientProperties.Option());
        var topic = new Option<string>("--topic") { Description = "The partition's topic.", Required = true };
        var partition = new Option<int>("--partition") { Description = "The partition.", Required = true };
        var startOffset = new Option<long>("--start-offset") { Description = "The first offset of the transaction to abort (DescribeProducers' current transaction start offset).", Required = true };
        var command = new Command("abort", "Abort a hanging transaction on one partition: an ABORT marker for the producer whose open transaction starts at --start-offset.")
        {
            topic, partition, startOffset, bootstrap, dir, commandConfig,
        };
        command.SetAction((parse, _) => RunAsync(parse, bootstrap, dir, commandConfig, async (servers, security, cancel) =>
        {
            var (name, index, start) = (parse.GetValue(topic)!, parse.GetValue(partition), parse.GetValue(startOffset));
            var cluster = await ClusterAdmin.DescribeAsync(servers, security, TimeSpan.FromSeconds(30), [name]).ConfigureAwait(false);
            var view = cluster.Partitions.SingleOrDefault(p => p.Topic == name && p.Partition == index)
                ?? throw new ClusterCommandException($"Partition {name}-{index} does not exist.");
            var leader = cluster.Brokers.SingleOrDefault(b => b.Id == view.Leader)
                ?? throw new ClusterCommandException($"Partition {name}-{index} has no live leader.");
            await using var client = ClusterAdmin.Connect($"{leader.Host}:{leader.Port}", "levee-transactions", security);
            var producers = await client.SendAsync<DescribeProducersRequest, DescribeProducersResponse>(
                ApiKey.DescribeProducers,
                DescribeProducersVersion,
                new DescribeProducersRequest { Topics = [new DescribeProducersRequest.TopicRequest { Name = name, PartitionIndexes = [index] }] },
                cancel).ConfigureAwait(false);
            var described = producers.Topics.Single().Partitions.Single();
            Check((ErrorCode)described.ErrorCode, $"{name}-{index}");
            var producer = described.ActiveProducers.SingleOrDefault(p => p.CurrentTxnStartOffset == start)
                ?? throw new ClusterCommandException($"No open transaction on {name}-{index} starts at offset {start}.");
            var marker = new WriteTxnMarkersRequest.WritableTxnMarker
            {
                ProducerId = producer.ProducerId,
                ProducerEpoch = (short)producer.ProducerEpoch,
                TransactionResult = false,
                CoordinatorEpoch = producer.CoordinatorEpoch,
                Topics = [new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = name, PartitionIndexes = [index] }],
            };
            var written = await client.SendAsync<WriteTxnMarkersRequest, WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, WriteTxnMarkersVersion, new WriteTxnMarkersRequest { Markers = [marker] }, cancel).ConfigureAwait(false);
            Check((ErrorCode)written.Markers.Single().Topics.Single().Partitions.Single().ErrorCode, $"Aborting on {name}-{index}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Aborted the transaction of producer {producer.ProducerId} (epoch {producer.ProducerEpoch}) on {name}-{index}, started at offset {start}."));
        }));
        return command;
    }

    private static async Task<(int NodeId, string Endpoint)> FindCoordinatorAsync(string servers, ClientSecurity? security, string transactionalId, CancellationToken cancel)
    {
        await using var client = ClusterAdmin.Connect(servers.Split(',')[0].Trim(), "levee-transactions", security);
        var response = await client.SendAsync<FindCoordinatorRequest, FindCoordinatorResponse>(ApiKey.FindCoordinator, FindCoordinatorVersion, new FindCoordinatorRequest { KeyType = 1, CoordinatorKeys = [transactionalId] }, cancel).ConfigureAwait(false);
        var coordinator = response.Coordinators.Single();
        Check((ErrorCode)coordinator.ErrorCode, $"Finding the coordinator of '{transactionalId}'");
        return (coordinator.NodeId, $"{coordinator.Host}:{coordinator.Port}");
    }

    private static void Check(ErrorCode error, string? what)
    {
        if (error != ErrorCode.None)
        {
            throw new ClusterCommandException(what is null ? error.ToString() : $"{what}: {error}");
        }
    }

    private static async Task<int> RunAsync(ParseResult parse, Option<string?> bootstrap, Option<string> dir, Option<string?> commandConfig, Func<string, ClientSecurity?, CancellationToken, Task> action)
    {
        try
        {
            var servers = ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), parse.GetValue(dir)!);
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await action(servers, ClientProperties.Security(parse.GetValue(commandConfig)), cancel.Token).ConfigureAwait(false);
            return 0;
        }
        catch (ClusterCommandException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"No answer from the broker: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
