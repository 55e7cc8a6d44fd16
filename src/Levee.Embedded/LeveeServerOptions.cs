using Microsoft.Extensions.Logging;

namespace Levee.Embedded;

/// <summary>How <see cref="LeveeServer.StartAsync"/> runs Levee: every property has a default fit for a test.</summary>
public sealed record LeveeServerOptions
{
    /// <summary>Brokers in the cluster (1 by default). Several form one cluster with a metadata quorum of all of them.</summary>
    public int Brokers { get; init; } = 1;

    /// <summary>
    /// Where the data lives (each broker in its own <c>node-N</c> directory below it). Null (the default): a new
    /// temporary directory, deleted when the server is disposed.
    /// </summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// The first broker's Kafka port; 0 (the default) takes a free one. The other brokers always take free ports.
    /// </summary>
    public int Port { get; init; }

    /// <summary>
    /// Broker settings by their Kafka names, as <c>levee serve --set</c> takes them (for example
    /// <c>auto.create.topics.enable</c> = <c>false</c>, <c>num.partitions</c> = <c>3</c>). An unknown or malformed
    /// one makes <see cref="LeveeServer.StartAsync"/> throw, naming it. There is no admin HTTP listener unless
    /// <c>admin.listener</c> is given (for example <c>127.0.0.1:0</c>).
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>The brokers' logging; none by default (for example <c>b => b.AddConsole()</c> to see them).</summary>
    public Action<ILoggingBuilder>? Logging { get; init; }
}
