using System.Globalization;
using Confluent.Kafka;

// Reads every record of the input topic and writes "out-" + its value to the output topic, exactly once: each step
// is one transaction holding the output records and the consumer group's new offsets (SendOffsetsToTransaction).
// Killed at any point and started again with the same transactional id and group, it resumes from the group's
// committed offsets; the new instance fences the old one and its open transaction is aborted. Exits 0 once the
// group's committed offsets cover the expected number of input records.
if (args.Length != 6)
{
    Console.Error.WriteLine("usage: Levee.Eos.App BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID EXPECTED");
    return 64;
}

var (bootstrap, input, output, group, transactionalId) = (args[0], args[1], args[2], args[3], args[4]);
var expected = long.Parse(args[5], CultureInfo.InvariantCulture);

using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
{
    BootstrapServers = bootstrap,
    GroupId = group,
    IsolationLevel = IsolationLevel.ReadCommitted,
    EnableAutoCommit = false,
    AutoOffsetReset = AutoOffsetReset.Earliest,
}).Build();
using var producer = new ProducerBuilder<string, string>(new ProducerConfig
{
    BootstrapServers = bootstrap,
    TransactionalId = transactionalId,
    LingerMs = 5,
}).Build();

producer.InitTransactions(TimeSpan.FromSeconds(60));
using (var admin = new DependentAdminClientBuilder(producer.Handle).Build())
{
    var partitions = admin.GetMetadata(input, TimeSpan.FromSeconds(30)).Topics.Single().Partitions.Select(p => new TopicPartition(input, p.PartitionId)).ToList();
    consumer.Assign(partitions.Select(p => new TopicPartitionOffset(p, Offset.Stored)));
}

Console.WriteLine("started");
while (true)
{
    var batch = new List<ConsumeResult<string, string>>();
    while (batch.Count < 100 && consumer.Consume(TimeSpan.FromMilliseconds(batch.Count == 0 ? 300 : 20)) is { } result)
    {
        if (!result.IsPartitionEOF)
        {
            batch.Add(result);
        }
    }

    if (batch.Count == 0)
    {
        var committed = consumer.Committed(consumer.Assignment, TimeSpan.FromSeconds(30)).Sum(o => Math.Max(0, o.Offset.Value));
        if (committed >= expected)
        {
            Console.WriteLine($"done {committed}");
            return 0;
        }

        continue;
    }

    try
    {
        producer.BeginTransaction();
        foreach (var record in batch)
        {
            producer.Produce(output, new Message<string, string> { Key = record.Message.Key, Value = "out-" + record.Message.Value });
        }

        var positions = batch.GroupBy(r => r.TopicPartition).Select(g => new TopicPartitionOffset(g.Key, g.Max(r => r.Offset.Value) + 1));
        producer.SendOffsetsToTransaction(positions, consumer.ConsumerGroupMetadata, TimeSpan.FromSeconds(60));
        producer.CommitTransaction(TimeSpan.FromSeconds(60));
        Console.WriteLine($"committed {batch.Count}");
    }
    catch (KafkaException e) when (e is KafkaTxnRequiresAbortException)
    {
        Console.WriteLine($"aborting: {e.Error}");
        producer.AbortTransaction(TimeSpan.FromSeconds(60));
        foreach (var offset in consumer.Committed(consumer.Assignment, TimeSpan.FromSeconds(30)))
        {
            consumer.Seek(offset.Offset == Offset.Unset ? new TopicPartitionOffset(offset.TopicPartition, Offset.Beginning) : offset);
        }
    }
}
