using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>A real broker on an ephemeral port over a fresh temporary data directory.</summary>
public sealed class TestBroker : IAsyncDisposable
{
    private TestBroker(LeveeBroker broker, string dataDir)
    {
        Broker = broker;
        DataDir = dataDir;
    }

    public LeveeBroker Broker { get; private set; }

    public string DataDir { get; }

    public string BootstrapServers => Broker.BootstrapServers;

    /// <summary>
    /// Starts a broker; <paramref name="configureServices"/> may add services (test-only API handlers), and
    /// <paramref name="configureLogging"/> loggers (a <see cref="LogCollector"/>).
    /// </summary>
    public static async Task<TestBroker> StartAsync(Func<BrokerOptions, BrokerOptions>? configure = null, Action<IServiceCollection>? configureServices = null, Action<ILoggingBuilder>? configureLogging = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "levee-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var options = new BrokerOptions { DataDir = dir, Port = 0, QuorumPort = 0 };
        options = configure?.Invoke(options) ?? options;
        try
        {
            return new TestBroker(await LeveeBroker.StartAsync(options, configureLogging, configureServices), dir);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>Stops the broker cleanly and starts a new one on the same data directory and port.</summary>
    public async Task RestartAsync()
    {
        var options = Broker.Options with { Port = Broker.Identity.Port };
        await Broker.DisposeAsync();
        Broker = await LeveeBroker.StartAsync(options);
    }

    public async ValueTask DisposeAsync()
    {
        await Broker.DisposeAsync();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory left behind does no harm.
        }
    }
}
