using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee serve` as started on a fresh machine: no --data-dir, in a directory of its own.</summary>
public sealed class ServeDefaultsTests
{
    [Fact]
    public async Task Serve_WithoutDataDir_KeepsLogsInDotData_AndWatchesNoFilesUnderIt()
    {
        var home = Path.Combine(Path.GetTempPath(), "levee-home-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        try
        {
            await using var levee = await LeveeProcess.StartInAsync(home);
            using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers, Acks = Acks.All }).Build())
            {
                await producer.ProduceAsync("defaults", new Message<Null, string> { Value = "in ./data" });
            }

            Assert.True(File.Exists(Path.Combine(home, "data", "defaults-0", "00000000000000000000.log")), levee.Output);

            // The web host's defaults watched appsettings.json in the working directory with a recursive inotify
            // watcher, which then woke on every append under ./data and held a watch per partition directory.
            var watchers = Directory.GetFiles($"/proc/{levee.Pid}/fd")
                .Select(fd => new FileInfo(fd).LinkTarget)
                .Count(target => target == "anon_inode:inotify");
            Assert.Equal(0, watchers);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
