using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Levee.Compat.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Levee.Compat;

/// <summary>
/// The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against a live three-process
/// cluster while a `levee fail` drill kills a broker under its probe's load: throughput moves, the killed broker shows
/// as fenced within seconds and alive again after its restart, its leaders' elections are listed. Screenshots go to
/// artefacts/dashboard beside the test assembly.
/// </summary>
public sealed class DashboardTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-dashboard-" + Guid.NewGuid().ToString("N"));
    private readonly string _artefacts = Path.Combine(AppContext.BaseDirectory, "artefacts", "dashboard");

    public async Task InitializeAsync()
    {
        var up = await LeveeCli.RunAsync(
            "cluster", "up", "--brokers", "3", "--dir", _dir, "--base-port", "0", "--timeout-s", "90",
            "--set", "broker.session.timeout.ms=3000", "--set", "broker.heartbeat.interval.ms=500");
        Assert.True(up.ExitCode == 0, up.StdOut + up.StdErr);
    }

    public Task DisposeAsync() => LeveeCli.DownAndDeleteAsync(_dir);

    [Fact]
    public async Task Dashboard_DuringAKillDrill_ShowsThroughputMoving_TheBrokerDownWithinSeconds_AndItsElections()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (.ci/run does)");
        Directory.CreateDirectory(_artefacts);
        using var cluster = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "cluster.json")));
        var adminPort = cluster.RootElement.GetProperty("nodes").EnumerateArray().First(n => n.GetProperty("node_id").GetInt32() == 1).GetProperty("admin_port").GetInt32();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1440, Height = 900 } });
        await page.GotoAsync(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{adminPort}/"));

        // Three brokers alive before the drill.
        await WaitAsync(page, async () => await page.Locator("#broker-rows .state-alive").CountAsync() == 3, "three brokers alive", TimeSpan.FromSeconds(30));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(_artefacts, "1-before.png"), FullPage = true });

        // The drill: broker 3 killed 2 s after its probe starts, restarted 6 s later.
        var started = Stopwatch.StartNew();
        var drill = LeveeCli.RunAsync("fail", "--broker", "3", "--kill", "--restart-after", "6", "--duration", "16", "--dir", _dir);

        var throughput = new HashSet<string>(StringComparer.Ordinal);
        await WaitAsync(page, async () =>
        {
            throughput.Add(await page.Locator("#bytes-in").InnerTextAsync());
            return await page.Locator("#broker-rows tr[data-broker='3'] .state").InnerTextAsync() == "fenced";
        }, "broker 3 fenced", TimeSpan.FromSeconds(20));
        var downAfter = started.Elapsed;
        output.WriteLine($"broker 3 shown fenced {downAfter.TotalSeconds:0.0} s after the drill started (killed about 2 s in)");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(_artefacts, "2-broker-down.png"), FullPage = true });

        // Its leaderships moved to the survivors: the elections are listed, from broker 3.
        await WaitAsync(page, async () => await page.Locator("#election-rows tr").CountAsync() > 0, "elections listed", TimeSpan.FromSeconds(10));
        var elections = await page.Locator("#election-rows tr").AllInnerTextsAsync();
        Assert.Contains(elections, e => e.Split('\t').ElementAtOrDefault(2) == "3");

        // Throughput moved under the probe's load: several different non-zero readings.
        await WaitAsync(page, async () =>
        {
            throughput.Add(await page.Locator("#bytes-in").InnerTextAsync());
            return throughput.Count(t => t is not "-" and not "0 B") >= 2;
        }, "throughput moving", TimeSpan.FromSeconds(20));

        var result = await drill;
        Assert.True(result.ExitCode == 0, result.StdOut + result.StdErr);
        await WaitAsync(page, async () => await page.Locator("#broker-rows .state-alive").CountAsync() == 3, "broker 3 alive again", TimeSpan.FromSeconds(30));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(_artefacts, "3-after.png"), FullPage = true });
        Assert.Equal("", await page.Locator("#error").InnerTextAsync());
        output.WriteLine($"throughput readings: {string.Join(", ", throughput)}; screenshots in {_artefacts}");
    }

    /// <summary>Checks <paramref name="condition"/> every 200 ms until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    private async Task WaitAsync(IPage page, Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(_artefacts, "failed-" + what.Replace(' ', '-') + ".png"), FullPage = true });
                Assert.Fail($"the dashboard did not show {what} within {timeout.TotalSeconds} s; error line: '{await page.Locator("#error").InnerTextAsync()}'");
            }

            await Task.Delay(200);
        }
    }
}
