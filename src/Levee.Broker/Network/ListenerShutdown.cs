namespace Levee.Broker.Network;

/// <summary>
/// Closes every client connection when the broker stops: after its controlled shutdown, so that
/// clients are served while leadership moves away, and before Kestrel would wait out its
/// graceful-shutdown timeout for connections that never close by themselves (clients, and other
/// brokers' replica fetchers).
/// </summary>
public sealed class ListenerShutdown : IDisposable
{
    private readonly CancellationTokenSource _source = new();

    /// <summary>Cancelled when connections must close.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Closes every connection.</summary>
    public void CloseAll() => _source.Cancel();

    /// <inheritdoc />
    public void Dispose() => _source.Dispose();
}
