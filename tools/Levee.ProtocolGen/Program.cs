using Levee.ProtocolGen;

// Generates src/Levee.Protocol/Generated from Kafka's JSON message specs:
//   dotnet run --project tools/Levee.ProtocolGen -- /work/shared/kafka-protocol/message src/Levee.Protocol/Generated
// Output depends only on the specs (files are processed in ordinal name order), so re-running it on
// unchanged specs changes nothing.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Levee.ProtocolGen <spec directory> <output directory>");
    return 2;
}

var specDirectory = args[0];
var outputDirectory = args[1];
var specs = Directory.GetFiles(specDirectory, "*.json")
    .Order(StringComparer.Ordinal)
    .Select(MessageSpec.Load)
    .ToList();

Directory.CreateDirectory(outputDirectory);
foreach (var stale in Directory.GetFiles(outputDirectory, "*.g.cs"))
{
    File.Delete(stale);
}

foreach (var spec in specs)
{
    Write($"{spec.Name}.g.cs", new MessageEmitter(spec).Emit());
}

Write("ApiKey.g.cs", ApiEmitter.EmitApiKey(specs));
Write("ApiMessages.g.cs", ApiEmitter.EmitApiMessages(specs));
Console.WriteLine($"Generated {specs.Count} messages into {outputDirectory}.");
return 0;

void Write(string fileName, string text) => File.WriteAllText(Path.Combine(outputDirectory, fileName), text);
