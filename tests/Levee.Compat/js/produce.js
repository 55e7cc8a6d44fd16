// Produces COUNT records (key k<i>, value v<i>) to TOPIC, created with PARTITIONS partitions, through kafkajs.
// Usage: node produce.js BOOTSTRAP TOPIC PARTITIONS COUNT [SASL_MECHANISM USERNAME PASSWORD]. Prints "produced <count>"
// on success. With the SASL arguments it authenticates over SASL_PLAINTEXT (plain, scram-sha-256, scram-sha-512).
'use strict';
const { Kafka, Partitioners, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic, partitions, count, mechanism, username, password] = process.argv.slice(2);
  const sasl = mechanism ? { mechanism, username, password } : undefined;
  const kafka = new Kafka({ clientId: 'levee-compat-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN, sasl });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions), replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  const total = Number(count);
  let produced = 0;
  for (let start = 0; start < total; start += 100) {
    const messages = [];
    for (let i = start; i < Math.min(total, start + 100); i++) {
      messages.push({ key: `k${i}`, value: `v${i}` });
    }
    const results = await producer.send({ topic, acks: -1, messages });
    for (const r of results) {
      if (r.errorCode !== 0) {
        throw new Error(`produce error ${JSON.stringify(r)}`);
      }
    }
    produced += messages.length;
  }
  await producer.disconnect();
  console.log(`produced ${produced}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
