using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using Levee.Embedded;

// Start-up to the first acknowledged record (acks=all, the topic created on first use), median of N runs each:
// Levee.Embedded in this process against `levee serve` started as a process. The ratio is what an embedded broker
// saves a test suite per start.
//   dotnet run -c Release --project bench/Levee.Startup -- [runs (10)] [path to levee.dll]
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var leveeDll = args.Length > 1 ? args[1] : FindLevee();

var embedded = new List<double>();
var process = new List<double>();
for (var i = 0; i < runs + 1; i++)
{
    var e = await EmbeddedAsync();
    var p = await ProcessAsync(leveeDll);
    // The first pair warms the runtime, the disk cache and librdkafka; it is not counted.
    if (i > 0)
    {
        embedded.Add(e);
        process.Add(p);
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {i}{(i == 0 ? " (warm-up)" : "")}: embedded {e:0} ms, process {p:0} ms"));
}

var me = Median(embedded);
var mp = Median(process);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median of {runs}: embedded {me:0} ms, levee serve as a process {mp:0} ms, ratio {me / mp:0.00}"));
return 0;

static async Task<double> EmbeddedAsync()
{
    var clock = Stopwatch.StartNew();
    await using var kafka = await LeveeServer.StartAsync();
    await FirstAckAsync(kafka.BootstrapServers);
    return clock.Elapsed.TotalMilliseconds;
}

static async Task<double> ProcessAsync(string leveeDll)
{
    var dir = Path.Combine(Path.GetTempPath(), "levee-startup-" + Guid.NewGuid().ToString("N"));
    var port = FreePort();
    var clock = Stopwatch.StartNew();
    using var serve = Process.Start(new ProcessStartInfo("dotnet")
    {
        ArgumentList = { leveeDll, "serve", "--data-dir", dir, "--port", port.ToString(CultureInfo.InvariantCulture), "--set", "quorum.port=0", "--set", "admin.listener=off" },
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    })!;
    serve.OutputDataReceived += (_, _) => { };
    serve.ErrorDataReceived += (_, _) => { };
    serve.BeginOutputReadLine();
    serve.BeginErrorReadLine();
    try
    {
        // librdkafka retries the connection until the broker listens: the clock stops at the acknowledgement.
        await FirstAckAsync($"127.0.0.1:{port}");
        return clock.Elapsed.TotalMilliseconds;
    }
    finally
    {
        serve.Kill(entireProcessTree: true);
        await serve.WaitForExitAsync();
        Directory.Delete(dir, recursive: true);
    }
}

static async Task FirstAckAsync(string bootstrap)
{
    using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
    {
        BootstrapServers = bootstrap,
        Acks = Acks.All,
        ReconnectBackoffMs = 10,
        ReconnectBackoffMaxMs = 50,
        MessageTimeoutMs = 60_000,
    }).SetLogHandler((_, _) => { }).Build();
    await producer.ProduceAsync("startup", new Message<Null, string> { Value = "first" });
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static string FindLevee()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        var dll = Path.Combine(dir.FullName, "src", "Levee", "bin", "Release", "net10.0", "levee.dll");
        if (File.Exists(dll))
        {
            return dll;
        }
    }

    throw new FileNotFoundException("levee.dll not found: build src/Levee in Release or pass its path.");
}
