using System.Diagnostics;

namespace Levee.Faults.Infrastructure;

/// <summary>Waits on conditions with deadlines: the only way these tests synchronise with the cluster.</summary>
public static class Wait
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static async Task UntilAsync(string what, TimeSpan timeout, Func<Task<bool>> condition, Func<string>? state = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.{(state is null ? "" : " Last state: " + state())}");
            }

            await Task.Delay(PollInterval);
        }
    }

    public static Task UntilAsync(string what, TimeSpan timeout, Func<bool> condition, Func<string>? state = null) =>
        UntilAsync(what, timeout, () => Task.FromResult(condition()), state);
}
