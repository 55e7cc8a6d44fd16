using Levee.Compat.Infrastructure;

namespace Levee.Compat;

public sealed class KafkaPythonTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    // ACLs need an authorizer (without one Kafka answers SECURITY_DISABLED); the anonymous client is a super user.
    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync(extraArgs: ["--set", "authorizer.enabled=true", "--set", "super.users=User:ANONYMOUS"]);

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task KafkaPython_ProducesAndConsumesATopic()
    {
        const string script = """
            import sys
            from kafka import KafkaProducer, KafkaConsumer, TopicPartition
            bootstrap = sys.argv[1]
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all')
            futures = [producer.send('py-topic', key=b'k%d' % i, value=b'v%d' % i) for i in range(500)]
            producer.flush()
            offsets = [f.get(timeout=10).offset for f in futures]
            assert offsets == list(range(500)), offsets[:10]
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
            tp = TopicPartition('py-topic', 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            seen = []
            for message in consumer:
                seen.append((message.offset, message.key, message.value))
                if len(seen) == 500:
                    break
            assert seen == [(i, b'k%d' % i, b'v%d' % i) for i in range(500)], seen[:5]
            print('ok', len(seen))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 500", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KafkaPython_AdminClient_EveryAdminApiItHas()
    {
        // kafka-python 2.0's KafkaAdminClient: topics, partitions, configs, ACLs, the cluster and consumer groups (it has
        // no client for elections, reassignments, log dirs, quotas or DeleteRecords; Confluent.Kafka's tests cover those).
        const string script = """
            import sys
            from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
            from kafka.admin import NewTopic, NewPartitions, ConfigResource, ConfigResourceType, ACL, ACLFilter, ACLOperation, ACLPermissionType, ResourcePattern, ResourcePatternFilter, ResourceType, ACLResourcePatternType
            from kafka.errors import TopicAlreadyExistsError, InvalidPartitionsError
            bootstrap = sys.argv[1]
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)

            admin.create_topics([NewTopic('py-admin', num_partitions=2, replication_factor=1, topic_configs={'retention.ms': '3600000'})])
            try:
                admin.create_topics([NewTopic('py-admin', num_partitions=2, replication_factor=1)])
                raise AssertionError('a second create succeeded')
            except TopicAlreadyExistsError:
                pass
            assert 'py-admin' in admin.list_topics()
            described = admin.describe_topics(['py-admin'])
            assert len(described[0]['partitions']) == 2, described

            admin.create_partitions({'py-admin': NewPartitions(total_count=4)})
            try:
                admin.create_partitions({'py-admin': NewPartitions(total_count=3)})
                raise AssertionError('shrinking succeeded')
            except InvalidPartitionsError:
                pass
            assert len(admin.describe_topics(['py-admin'])[0]['partitions']) == 4

            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'py-admin', configs={'retention.ms': '7200000'})])
            configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'py-admin')])
            entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
            assert entries['retention.ms'] == '7200000', entries['retention.ms']
            brokers = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, '1')])
            broker_entries = {e[0]: e[1] for e in brokers[0].resources[0][4]}
            assert 'listeners' in broker_entries and 'log.retention.hours' in broker_entries, sorted(broker_entries)[:10]

            cluster = admin.describe_cluster()
            assert [b['node_id'] for b in cluster['brokers']] == [1], cluster
            assert cluster['controller_id'] == 1, cluster

            acl = ACL(principal='User:alice', host='*', operation=ACLOperation.READ, permission_type=ACLPermissionType.ALLOW,
                      resource_pattern=ResourcePattern(ResourceType.TOPIC, 'py-admin'))
            result = admin.create_acls([acl])
            assert not result['failed'], result
            listed, error = admin.describe_acls(ACLFilter(principal='User:alice', host='*', operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                                                           resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, 'py-admin', ACLResourcePatternType.LITERAL)))
            assert len(listed) == 1 and listed[0].operation == ACLOperation.READ, listed
            deleted = admin.delete_acls([ACLFilter(principal='User:alice', host='*', operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                                                   resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, 'py-admin', ACLResourcePatternType.LITERAL))])
            assert len(deleted[0][1]) == 1, deleted

            consumer = KafkaConsumer('py-admin', bootstrap_servers=bootstrap, group_id='py-admin-group', enable_auto_commit=False)
            consumer.poll(timeout_ms=5000)
            consumer.commit({TopicPartition('py-admin', 0): __import__('kafka').OffsetAndMetadata(0, '')})
            groups = [g[0] for g in admin.list_consumer_groups()]
            assert 'py-admin-group' in groups, groups
            group = admin.describe_consumer_groups(['py-admin-group'])[0]
            assert group.group == 'py-admin-group' and group.state == 'Stable' and len(group.members) == 1, group
            offsets = admin.list_consumer_group_offsets('py-admin-group')
            assert offsets[TopicPartition('py-admin', 0)].offset == 0, offsets
            consumer.close()
            deleted_groups = admin.delete_consumer_groups(['py-admin-group'])
            assert deleted_groups == [('py-admin-group', __import__('kafka').errors.NoError)], deleted_groups

            admin.delete_topics(['py-admin'])
            print('ok admin')
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok admin", result.StdOut, StringComparison.Ordinal);
    }
}
