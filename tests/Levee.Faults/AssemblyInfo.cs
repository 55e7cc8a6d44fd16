// Each test runs a multi-process cluster on a small machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
