namespace Levee.Storage.Tests;

/// <summary>A run of repeated failures reported as a start, a count every interval, and an end.</summary>
public sealed class FailureRunTests
{
    [Fact]
    public void Failed_ReportsTheFirst_ThenACountOncePerInterval_ThenTheEnd()
    {
        var run = new FailureRun(TimeSpan.FromSeconds(30));
        var kinds = new List<FailureNoteKind>();
        FailureNote last = default;
        for (var ms = 1_000L; ms <= 61_000; ms += 250)
        {
            last = run.Failed(ms);
            kinds.Add(last.Kind);
        }

        // 241 failures over 60 s (four a second): one start and two summaries, at 30 s and at 60 s.
        Assert.Equal(241, kinds.Count);
        Assert.Equal(FailureNoteKind.Started, kinds[0]);
        Assert.Equal([0, 120, 240], kinds.Select((k, i) => (k, i)).Where(x => x.k != FailureNoteKind.Counted).Select(x => x.i));
        Assert.Equal(FailureNoteKind.Repeated, last.Kind);
        Assert.Equal(120, last.SinceLastReport);
        Assert.Equal(241, last.Failures);
        Assert.Equal(60_000, last.DurationMs);
        Assert.True(run.IsFailing);

        Assert.Equal(new FailureRunEnd(61_000, 241, true), run.Succeeded(62_000));
        Assert.False(run.IsFailing);
        Assert.Null(run.Succeeded(63_000));

        // A new run starts over.
        Assert.Equal(FailureNoteKind.Started, run.Failed(70_000).Kind);
    }

    [Fact]
    public void AQuietRun_IsReportedFromItsNthFailure_AndItsEndOnlyWhenReported()
    {
        var run = new FailureRun(TimeSpan.FromSeconds(30), reportAfter: 3);
        Assert.Equal(FailureNoteKind.Counted, run.Failed(0).Kind);
        Assert.Equal(FailureNoteKind.Counted, run.Failed(10).Kind);
        Assert.Equal(new FailureRunEnd(20, 2, false), run.Succeeded(20));

        Assert.Equal(FailureNoteKind.Counted, run.Failed(100).Kind);
        Assert.Equal(FailureNoteKind.Counted, run.Failed(110).Kind);
        Assert.Equal(new FailureNote(FailureNoteKind.Started, 3, 3, 20), run.Failed(120));
        Assert.Equal(new FailureRunEnd(30, 3, true), run.Succeeded(130));
    }

    [Fact]
    public void EndIfQuiet_EndsARun_OnlyAfterNoFailureForTheQuietPeriod()
    {
        var run = new FailureRun(TimeSpan.FromSeconds(30));
        run.Failed(1_000);
        run.Failed(2_000);
        Assert.Null(run.EndIfQuiet(6_999, 5_000));
        Assert.True(run.IsFailing);
        Assert.Equal(new FailureRunEnd(6_000, 2, true), run.EndIfQuiet(7_000, 5_000));
        Assert.False(run.IsFailing);
        Assert.Null(run.EndIfQuiet(20_000, 5_000));
    }
}
