namespace Levee.Broker.Network;

/// <summary>
/// The broker-wide bound on request bytes held in memory (Kafka's <c>queued.max.request.bytes</c>): a connection draws a
/// request frame's size from it before copying the frame into its buffer, and gives it back once the request no longer
/// needs its bytes (answered, or for acks=all Produce once appended). While the budget is spent, connections wait for
/// it without reading, so their clients are held back by TCP; nothing fails.
/// </summary>
/// <remarks>
/// Far from exhaustion a draw is one compare-and-swap on a counter and a return one atomic add: no lock. Only a draw that
/// does not fit takes the lock and queues; draws are then granted in arrival order as bytes come back, and none passes a
/// queued one, so a large frame is not starved by a stream of small ones. No draw may exceed the capacity
/// (the broker refuses a <c>queued.max.request.bytes</c> below <c>socket.request.max.bytes</c> at start, as
/// Kafka does), so <see cref="Held"/> never exceeds <see cref="Capacity"/>.
/// </remarks>
public sealed class RequestMemoryBudget
{
    private readonly LinkedList<Waiter> _queue = [];
    private readonly Action<object?, CancellationToken> _onCanceled;
    private long _held;
    private long _peak;
    private int _waiting;

    /// <summary>Creates a budget of <paramref name="capacity"/> bytes.</summary>
    public RequestMemoryBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        _onCanceled = (waiter, token) => Cancel((Waiter)waiter!, token);
    }

    /// <summary>The budget in bytes.</summary>
    public long Capacity { get; }

    /// <summary>Bytes drawn and not yet given back: request frames held in memory now.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>The most <see cref="Held"/> has been since the broker started.</summary>
    public long Peak => Volatile.Read(ref _peak);

    /// <summary>Connections waiting for bytes to come back before they read their next request.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Draws <paramref name="bytes"/> if they fit now and no connection is waiting before this one.</summary>
    public bool TryAcquire(int bytes)
    {
        Check(bytes);
        return Volatile.Read(ref _waiting) == 0 && TryTake(bytes);
    }

    /// <summary>Draws <paramref name="bytes"/>, waiting in turn for them to come back if the budget is spent.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first; nothing was drawn.</exception>
    public ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken)
    {
        if (TryAcquire(bytes))
        {
            return ValueTask.CompletedTask;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var waiter = new Waiter(bytes);
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(_onCanceled, waiter);
        }

        lock (_queue)
        {
            if (waiter.State == WaiterState.Pending)
            {
                waiter.State = WaiterState.Queued;
                waiter.Node = _queue.AddLast(waiter);
                Interlocked.Increment(ref _waiting);

                // Bytes given back between the failed draw and the increment saw no waiter and woke nobody.
                GrantLocked();
            }
        }

        return new ValueTask(waiter.Granted.Task);
    }

    /// <summary>Gives back <paramref name="bytes"/> drawn before, waking the waiting connections they make room for.</summary>
    public void Release(int bytes)
    {
        Check(bytes);
        Interlocked.Add(ref _held, -bytes);

        // The add and this read are both full fences, as are a waiter's increment and its look at the counter in
        // GrantLocked: either this release sees the waiter, or the waiter sees the bytes given back.
        if (Volatile.Read(ref _waiting) != 0)
        {
            lock (_queue)
            {
                GrantLocked();
            }
        }
    }

    private void Check(int bytes)
    {
        if (bytes < 0 || bytes > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"A draw must be between 0 and the budget's {Capacity} bytes.");
        }
    }

    private bool TryTake(int bytes)
    {
        var held = Volatile.Read(ref _held);
        while (held + bytes <= Capacity)
        {
            var seen = Interlocked.CompareExchange(ref _held, held + bytes, held);
            if (seen == held)
            {
                NotePeak(held + bytes);
                return true;
            }

            held = seen;
        }

        return false;
    }

    private void NotePeak(long held)
    {
        var peak = Volatile.Read(ref _peak);
        while (held > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peak, held, peak);
            if (seen == peak)
            {
                return;
            }

            peak = seen;
        }
    }

    // In arrival order: the first waiter that does not fit stops the others, so it is served next.
    private void GrantLocked()
    {
        while (_queue.First is { } first && TryTake(first.Value.Bytes))
        {
            _queue.RemoveFirst();
            var waiter = first.Value;
            waiter.Node = null;
            waiter.State = WaiterState.Granted;
            Interlocked.Decrement(ref _waiting);

            // Not Dispose: that would wait for a cancellation callback running now, which waits for this lock.
            waiter.Registration.Unregister();

            // Continuations run elsewhere: a releasing connection does not serve the next one's request inline.
            waiter.Granted.TrySetResult();
        }
    }

    private void Cancel(Waiter waiter, CancellationToken token)
    {
        lock (_queue)
        {
            if (waiter.State == WaiterState.Granted)
            {
                // The bytes are the connection's, and go back when it lets go of its frame.
                return;
            }

            if (waiter.Node is { } node)
            {
                _queue.Remove(node);
                waiter.Node = null;
                Interlocked.Decrement(ref _waiting);

                // A large waiter leaving the head may let smaller ones behind it through.
                GrantLocked();
            }

            waiter.State = WaiterState.Canceled;
        }

        waiter.Granted.TrySetCanceled(token);
    }

    private enum WaiterState
    {
        Pending,
        Queued,
        Granted,
        Canceled,
    }

    private sealed class Waiter(int bytes)
    {
        public int Bytes { get; } = bytes;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        public WaiterState State { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}
