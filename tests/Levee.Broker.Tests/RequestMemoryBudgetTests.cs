using System.Buffers;
using System.Buffers.Binary;
using Levee.Broker.Network;

namespace Levee.Broker.Tests;

public sealed class RequestMemoryBudgetTests
{
    [Fact]
    public void DrawsThatFit_AreGrantedAtOnce_AndCountedUntilGivenBack()
    {
        var budget = new RequestMemoryBudget(100);
        Assert.True(budget.TryAcquire(60));
        Assert.True(budget.TryAcquire(40));
        Assert.False(budget.TryAcquire(1));
        Assert.Equal(100, budget.Held);

        budget.Release(60);
        budget.Release(40);
        Assert.Equal(0, budget.Held);
        Assert.Equal(100, budget.Peak);
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.TryAcquire(101));
    }

    [Fact]
    public async Task Waiters_AreGrantedInArrivalOrder_AndNoLaterDrawPassesThem()
    {
        var budget = new RequestMemoryBudget(100);
        Assert.True(budget.TryAcquire(90));
        var large = budget.AcquireAsync(80, CancellationToken.None).AsTask();
        var small = budget.AcquireAsync(10, CancellationToken.None).AsTask();
        Assert.Equal(2, budget.Waiting);
        Assert.False(large.IsCompleted);

        // 10 bytes are free, but the large waiter is first: the small one and newcomers wait behind it.
        Assert.False(small.IsCompleted);
        Assert.False(budget.TryAcquire(5));

        budget.Release(90);
        await large.WaitAsync(TimeSpan.FromSeconds(10));
        await small.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(90, budget.Held);
        Assert.Equal(0, budget.Waiting);
        Assert.True(budget.TryAcquire(10));
        Assert.InRange(budget.Peak, 0, budget.Capacity);
    }

    [Fact]
    public async Task ACancelledWaiter_DrawsNothing_AndLetsThoseBehindItThrough()
    {
        var budget = new RequestMemoryBudget(100);
        Assert.True(budget.TryAcquire(50));
        using var cancel = new CancellationTokenSource();
        var large = budget.AcquireAsync(100, cancel.Token).AsTask();
        var small = budget.AcquireAsync(50, CancellationToken.None).AsTask();
        Assert.False(small.IsCompleted);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => large);
        await small.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(100, budget.Held);
        Assert.Equal(0, budget.Waiting);
    }

    [Fact]
    public async Task ManyConcurrentDraws_NeverHoldMoreThanTheCapacity_AndAllComplete()
    {
        var budget = new RequestMemoryBudget(1000);
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < 2000; i++)
            {
                var bytes = random.Next(0, 400);
                await budget.AcquireAsync(bytes, CancellationToken.None);
                Assert.InRange(budget.Held, bytes, budget.Capacity);
                budget.Release(bytes);
            }
        }));
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, budget.Held);
        Assert.Equal(0, budget.Waiting);
        Assert.InRange(budget.Peak, 1, budget.Capacity);
    }

    [Fact]
    public void Reader_CopiesAFrameAsItsBytesArrive_ConsumingThem()
    {
        var budget = new RequestMemoryBudget(1024);
        using var reader = new RequestFrameReader(budget, 1024);
        var frame = Frame(300, fill: 7);

        // The prefix split across arrivals, then the body in pieces: each piece is consumed as it is copied.
        var first = new ReadOnlySequence<byte>(frame.AsMemory(0, 2));
        Assert.Equal(RequestFrameStatus.Incomplete, reader.TryRead(ref first));
        Assert.Equal(2, first.Length);
        var second = new ReadOnlySequence<byte>(frame.AsMemory(0, 104));
        Assert.Equal(RequestFrameStatus.Incomplete, reader.TryRead(ref second));
        Assert.Equal(0, second.Length);
        Assert.Equal(300, budget.Held);
        var rest = new ReadOnlySequence<byte>(frame.AsMemory(104));
        Assert.Equal(RequestFrameStatus.Complete, reader.TryRead(ref rest));
        Assert.Equal(300, reader.Frame.Length);
        Assert.All(reader.Frame.ToArray(), b => Assert.Equal(7, b));

        reader.ReleaseFrame();
        reader.ReleaseFrame();
        Assert.Equal(0, budget.Held);
    }

    [Fact]
    public async Task Reader_WaitsForMemory_WithoutConsumingTheFrame()
    {
        var budget = new RequestMemoryBudget(500);
        Assert.True(budget.TryAcquire(400));
        using var reader = new RequestFrameReader(budget, 500);
        var input = new ReadOnlySequence<byte>(Frame(200, fill: 1));
        Assert.Equal(RequestFrameStatus.AwaitingMemory, reader.TryRead(ref input));
        Assert.Equal(204, input.Length);

        var waiting = reader.WaitForMemoryAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        budget.Release(400);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RequestFrameStatus.Complete, reader.TryRead(ref input));
        Assert.Equal(200, budget.Held);
        reader.ReleaseFrame();
        Assert.Equal(0, budget.Held);
    }

    [Fact]
    public void Reader_Disposed_MidFrame_GivesItsMemoryBack()
    {
        var budget = new RequestMemoryBudget(1000);
        var reader = new RequestFrameReader(budget, 1000);
        var input = new ReadOnlySequence<byte>(Frame(600, fill: 2).AsMemory(0, 100));
        Assert.Equal(RequestFrameStatus.Incomplete, reader.TryRead(ref input));
        Assert.Equal(600, budget.Held);
        reader.Dispose();
        Assert.Equal(0, budget.Held);
    }

    [Fact]
    public void Reader_FrameOverTheMaximum_IsInvalid_AndDrawsNothing()
    {
        var budget = new RequestMemoryBudget(1000);
        using var reader = new RequestFrameReader(budget, 100);
        var input = new ReadOnlySequence<byte>(Frame(101, fill: 0));
        Assert.Equal(RequestFrameStatus.Invalid, reader.TryRead(ref input));
        Assert.Equal(101, reader.DeclaredLength);
        Assert.Equal(0, budget.Held);
    }

    private static byte[] Frame(int length, byte fill)
    {
        var frame = new byte[4 + length];
        BinaryPrimitives.WriteInt32BigEndian(frame, length);
        frame.AsSpan(4).Fill(fill);
        return frame;
    }
}
