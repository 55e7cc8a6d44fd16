// Produces COUNT records (key k<i>, value v<i>) to TOPIC with kafkajs, then reads them back in a consumer group
// (named after the topic) from the beginning, and prints each record read as "key=value", one a line, in order.
// Usage: node produce-consume.js PROPERTIES TOPIC COUNT. PROPERTIES is a file of client settings with librdkafka's
// names (bootstrap.servers, security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location,
// ssl.certificate.location, ssl.key.location), so that no secret is on the command line.
'use strict';
const fs = require('fs');
const { Kafka, Partitioners, logLevel } = require('kafkajs');

function readProperties(file) {
  const settings = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) {
      settings[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return settings;
}

function clientConfig(settings) {
  const protocol = settings['security.protocol'];
  const read = (key) => (settings[key] ? fs.readFileSync(settings[key]) : undefined);
  const ssl = protocol.endsWith('SSL')
    ? { ca: [read('ssl.ca.location')], cert: read('ssl.certificate.location'), key: read('ssl.key.location') }
    : undefined;
  const sasl = protocol.startsWith('SASL')
    ? { mechanism: settings['sasl.mechanism'].toLowerCase(), username: settings['sasl.username'], password: settings['sasl.password'] }
    : undefined;
  return { clientId: 'levee-compat-kafkajs', brokers: [settings['bootstrap.servers']], ssl, sasl, logLevel: logLevel.WARN };
}

async function main() {
  const [properties, topic, count] = process.argv.slice(2);
  const expected = Number(count);
  const kafka = new Kafka(clientConfig(readProperties(properties)));

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < expected; i++) {
    messages.push({ key: `k${i}`, value: `v${i}` });
  }
  const results = await producer.send({ topic, acks: -1, messages });
  if (results.some((r) => r.errorCode !== 0)) {
    throw new Error(`produce error ${JSON.stringify(results)}`);
  }
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: topic });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  await consumer.run({
    eachMessage: async ({ message }) => {
      seen.push(`${message.key}=${message.value}`);
      if (seen.length >= expected) {
        done();
      }
    },
  });
  const timer = setTimeout(() => {
    console.error(`timed out: consumed ${seen.length} of ${expected}`);
    process.exit(2);
  }, 60000);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  console.log(seen.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
