using System.Buffers;

namespace Levee.Benchmarks;

/// <summary>
/// A pool of 4 KiB blocks, like the one Kestrel gives its socket pipes (PinnedBlockMemoryPool): a pipe built on it
/// hands out memory in 4 KiB blocks, and a request for more than a block gets an array from the shared array pool,
/// as a connection's output does in the broker.
/// </summary>
internal sealed class BlockMemoryPool : MemoryPool<byte>
{
    private const int BlockSize = 4096;

    private readonly Stack<Block> _free = new();
    private readonly Lock _lock = new();

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        lock (_lock)
        {
            return _free.TryPop(out var block) ? block : new Block(this);
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            _free.Clear();
        }
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            _free.Push(block);
        }
    }

    private sealed class Block(BlockMemoryPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = new byte[BlockSize];

        public void Dispose() => pool.Return(this);
    }
}
