# A consume-transform-produce loop with confluent-kafka-python transactions, run by ExactlyOnceTests.cs as its own
# process so that the test can kill -9 it at any point. It writes "out-" + each input value to the output topic, each
# step one transaction holding the output records and the group's offsets (send_offsets_to_transaction), resumes from
# the group's committed offsets when started again, and exits 0 once they cover the expected number of records.
import sys
from confluent_kafka import Consumer, Producer, TopicPartition, KafkaException

bootstrap, source, sink, group, transactional_id, expected = sys.argv[1:7]
expected = int(expected)
consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'isolation.level': 'read_committed',
                     'enable.auto.commit': False, 'auto.offset.reset': 'earliest'})
producer = Producer({'bootstrap.servers': bootstrap, 'transactional.id': transactional_id, 'linger.ms': 5})
producer.init_transactions(60)
partitions = consumer.list_topics(source, timeout=30).topics[source].partitions
assignment = [TopicPartition(source, p) for p in partitions]
consumer.assign(consumer.committed(assignment, timeout=30))
print('started', flush=True)


def rewind():
    for tp in consumer.committed(assignment, timeout=30):
        consumer.seek(TopicPartition(source, tp.partition, tp.offset if tp.offset >= 0 else 0))


while True:
    batch = consumer.consume(num_messages=100, timeout=0.3)
    batch = [m for m in batch if m.error() is None]
    if not batch:
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(assignment, timeout=30))
        if committed >= expected:
            print('done', committed, flush=True)
            sys.exit(0)
        continue
    try:
        producer.begin_transaction()
        for m in batch:
            producer.produce(sink, key=m.key(), value=b'out-' + m.value())
        positions = {}
        for m in batch:
            positions[m.partition()] = max(positions.get(m.partition(), 0), m.offset() + 1)
        producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in positions.items()],
                                             consumer.consumer_group_metadata(), 60)
        producer.commit_transaction(60)
        print('committed', len(batch), flush=True)
    except KafkaException as e:
        if not e.args[0].txn_requires_abort():
            raise
        print('aborting', e, flush=True)
        producer.abort_transaction(60)
        rewind()
