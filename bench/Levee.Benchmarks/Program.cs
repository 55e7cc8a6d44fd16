using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Levee.Benchmarks -- --filter '*' [--job short] [--inProcess]
BenchmarkSwitcher.FromAssembly(typeof(Levee.Benchmarks.HotPathBenchmarks).Assembly).Run(args);
