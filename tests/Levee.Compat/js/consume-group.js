// Consumes a topic in a consumer group with CONSUMERS kafkajs consumers until COUNT records have been read, commits
// the offsets explicitly, and leaves. Usage: node consume-group.js BOOTSTRAP TOPIC GROUP CONSUMERS COUNT.
// Prints "consumed <count> distinct <distinct keys> committed <partitions>" on success.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic, group, consumers, count] = process.argv.slice(2);
  const expected = Number(count);
  const kafka = new Kafka({ clientId: 'levee-compat-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN });
  const keys = new Set();
  const next = new Map(); // partition -> next offset to commit
  let consumed = 0;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });

  const members = [];
  for (let c = 0; c < Number(consumers); c++) {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        consumed++;
        keys.add(message.key.toString());
        const offset = BigInt(message.offset) + 1n;
        if (!next.has(partition) || next.get(partition) < offset) {
          next.set(partition, offset);
        }
        if (keys.size >= expected) {
          done();
        }
      },
    });
    members.push(consumer);
  }

  const timer = setTimeout(() => {
    console.error(`timed out: consumed ${consumed}, distinct ${keys.size} of ${expected}`);
    process.exit(2);
  }, 90000);
  await finished;
  clearTimeout(timer);

  const offsets = [...next.entries()].map(([partition, offset]) => ({ topic, partition, offset: offset.toString() }));
  // Any member may commit for the group (the broker checks the generation and member id of the one that sends it).
  let committed = false;
  for (let attempt = 0; attempt < 20 && !committed; attempt++) {
    try {
      await members[0].commitOffsets(offsets);
      committed = true;
    } catch (e) {
      console.error(`commit attempt ${attempt} failed: ${e.message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  for (const consumer of members) {
    await consumer.disconnect();
  }
  if (!committed) {
    throw new Error('could not commit');
  }
  console.log(`consumed ${consumed} distinct ${keys.size} committed ${offsets.length}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
