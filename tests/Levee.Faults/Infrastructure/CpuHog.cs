using System.Diagnostics;
using System.Globalization;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// CPU pressure on one core: busy-loop shell processes pinned to it with taskset (util-linux). Pin a broker
/// to the same core (<see cref="LeveeNode.PinToCpusAsync"/>) and it gets a fraction of one core while the
/// rest of the cluster runs freely. Disposing kills the loops.
/// </summary>
public sealed class CpuHog : IDisposable
{
    private readonly List<Process> _loops = [];

    private CpuHog(int cpu) => Cpu = cpu;

    public int Cpu { get; }

    /// <summary>Starts <paramref name="loops"/> busy loops pinned to <paramref name="cpu"/>.</summary>
    public static CpuHog Start(int cpu, int loops)
    {
        var hog = new CpuHog(cpu);
        try
        {
            for (var i = 0; i < loops; i++)
            {
                hog._loops.Add(Process.Start("taskset", ["-c", cpu.ToString(CultureInfo.InvariantCulture), "sh", "-c", "while :; do :; done"]));
            }
        }
        catch
        {
            hog.Dispose();
            throw;
        }

        return hog;
    }

    /// <summary>True while every loop runs (a loop that died would take the pressure away unnoticed).</summary>
    public bool AllRunning => _loops.TrueForAll(p => !p.HasExited);

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            if (!loop.HasExited)
            {
                loop.Kill(entireProcessTree: true);
                loop.WaitForExit();
            }

            loop.Dispose();
        }

        _loops.Clear();
    }
}
