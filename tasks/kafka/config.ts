/**
 * The configuration files of a broker, written into its data directory on every start:
 * `server.properties` (a combined broker+controller KRaft node, alone or in a cluster) and its
 * logging configuration (`log4j2.xml` for Kafka 4, `log4j.properties` for Kafka 3), which sends
 * everything to `logs/server.log`.
 *
 * Topics are not auto-created (`auto.create.topics.enable=false`): a typo in a topic name fails
 * loudly, and the code that creates topics is exercised.
 *
 * @module
 */
import { BROKER_HOST } from "./defaults.ts";

/** One node's place in a KRaft cluster of combined broker+controller nodes. */
export interface ClusterMembership {
  /** This node's `node.id`, from 1. */
  nodeId: number;
  /** `controller.quorum.voters`: `1@127.0.0.1:9193,2@127.0.0.1:9195,...`. */
  voters: string;
  /** The cluster id every node is formatted with. */
  clusterId: string;
  /** Number of nodes: replication factors are `min(3, size)`, `min.insync.replicas` one less. */
  size: number;
}

/**
 * `server.properties` of one broker, written on every start.
 *
 * @param o Its ports, storage directory, cluster membership and extra properties (which win).
 * @returns The file's text.
 */
export function serverProperties(o: {
  port: number;
  controllerPort: number;
  logDir: string;
  cluster?: ClusterMembership;
  extra?: Record<string, string>;
}): string {
  const nodeId = o.cluster?.nodeId ?? 1;
  const replicas = Math.min(3, o.cluster?.size ?? 1);
  const minIsr = Math.max(1, replicas - 1);
  return `# Written by upbus tasks/kafka/config.ts on every start: a KRaft broker (node ${nodeId} of
# ${o.cluster?.size ?? 1}) for development and tests. Edits are lost.
process.roles=broker,controller
node.id=${nodeId}
controller.quorum.voters=${o.cluster?.voters ?? `1@${BROKER_HOST}:${o.controllerPort}`}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://${BROKER_HOST}:${o.port},CONTROLLER://${BROKER_HOST}:${o.controllerPort}
advertised.listeners=PLAINTEXT://${BROKER_HOST}:${o.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${o.logDir}

# Every topic has min(3, nodes) replicas; with more than one, a write needs all but one of them.
offsets.topic.replication.factor=${replicas}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minIsr}
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=${replicas}
share.coordinator.state.topic.min.isr=${minIsr}
default.replication.factor=${replicas}
min.insync.replicas=${minIsr}
unclean.leader.election.enable=false
num.partitions=1
auto.create.topics.enable=false

# Fast for tests: no initial rebalance delay, few threads.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.hours=168
${Object.entries(o.extra ?? {}).map(([key, value]) => `${key}=${value}\n`).join("")}`;
}

/** `log4j2.xml` (Kafka 4): everything to `<logsDir>/server.log`, rolled at 10 MB. */
export function log4j2Xml(logsDir: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by upbus tasks/kafka/config.ts: everything to logs/server.log, rolled at 10 MB. -->
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <RollingFile name="file" fileName="${logsDir}/server.log" filePattern="${logsDir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="10 MB"/>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
${QUIET_LOGGERS.map((name) => `    <Logger name="${name}" level="warn"/>`).join("\n")}
  </Loggers>
</Configuration>
`;
}

/** `log4j.properties` (Kafka 3): everything to `<logsDir>/server.log`, rolled at 10 MB. */
export function log4jProperties(logsDir: string): string {
  return `# Written by upbus tasks/kafka/config.ts: everything to logs/server.log, rolled at 10 MB.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${logsDir}/server.log
log4j.appender.file.MaxFileSize=10MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
${QUIET_LOGGERS.map((name) => `log4j.logger.${name}=WARN`).join("\n")}
`;
}

/** Loggers that print a line per partition, request or config key at INFO. */
const QUIET_LOGGERS = [
  "org.apache.kafka.common.config",
  "kafka.server.KafkaConfig",
  "kafka.request.logger",
  "state.change.logger",
  "kafka.cluster",
  "kafka.log",
  "org.apache.kafka.storage",
  "org.apache.kafka.coordinator",
  "org.apache.kafka.controller.ReplicationControlManager",
  "kafka.coordinator",
  "kafka.server.ReplicaFetcherManager",
  "kafka.server.ReplicaAlterLogDirsManager",
  "org.apache.kafka.server.quota",
  "org.apache.kafka.server.purgatory",
  "org.apache.kafka.server.util.timer",
  "org.apache.kafka.common.metrics",
];

/** A random KRaft cluster id: 16 bytes, base64url, not starting with "-" (as Kafka's own). */
export function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
      .replace(/=+$/, "");
    if (!id.startsWith("-")) return id;
  }
}
