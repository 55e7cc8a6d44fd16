namespace Levee.ProtocolGen;

/// <summary>Emits the ApiKey enum and the ApiMessages lookup class from the request and response specs.</summary>
internal static class ApiEmitter
{
    public static string EmitApiKey(List<MessageSpec> specs)
    {
        var code = Start();
        code.Summary("Kafka API keys: every request in the specs, named after the request without its suffix.");
        code.Open("public enum ApiKey : short");
        foreach (var request in Requests(specs))
        {
            code.Summary($"{request.Name}, versions {request.ValidVersions.Lowest}-{request.ValidVersions.Highest}.");
            code.Line($"{MessageEmitter.ApiKeyName(request.Name)} = {request.ApiKey},");
        }

        code.Close();
        return code.ToString();
    }

    public static string EmitApiMessages(List<MessageSpec> specs)
    {
        var requests = Requests(specs);
        var responses = specs.Where(s => s.Kind == "response").ToDictionary(s => s.ApiKey!.Value);
        var code = Start();
        code.Summary("The kinds of listener an API is served on, from the specs' \"listeners\" field.");
        code.Line("[System.Flags]");
        code.Open("public enum ApiListeners");
        code.Summary("Served on no listener.");
        code.Line("None = 0,");
        code.Summary("A broker's client-facing listeners.");
        code.Line("Broker = 1,");
        code.Summary("The controller's listeners: broker-to-controller traffic.");
        code.Line("Controller = 2,");
        code.Summary("A ZooKeeper-mode broker's listeners (Kafka before 4.0).");
        code.Line("ZkBroker = 4,");
        code.Close();
        code.Line();
        code.Summary("Version and header facts for every API, from the specs.");
        code.Open("public static class ApiMessages");

        code.Summary("Whether <paramref name=\"apiKey\"/> is an API in the specs.");
        code.Open("public static bool IsKnown(short apiKey)");
        code.Open("switch (apiKey)");
        foreach (var request in requests)
        {
            code.Line($"case {request.ApiKey}:");
        }

        code.Line("    return true;");
        code.Line("default:");
        code.Line("    return false;");
        code.Close();
        code.Close();
        code.Line();

        EmitLookup(code, requests, "LowestVersion", "The lowest request version in the spec.");
        code.Line();
        EmitLookup(code, requests, "HighestVersion", "The highest request version in the spec.");
        code.Line();
        EmitLookup(code, requests, "LowestFlexibleVersion", "The first flexible request version (short.MaxValue when none is).");
        code.Line();

        code.Summary("The kinds of listener <paramref name=\"key\"/> is served on.");
        code.Open("public static ApiListeners Listeners(ApiKey key) => key switch");
        foreach (var request in requests)
        {
            var kinds = request.Listeners.Select(ListenerFlag).ToList();
            code.Line($"ApiKey.{MessageEmitter.ApiKeyName(request.Name)} => {(kinds.Count == 0 ? "ApiListeners.None" : string.Join(" | ", kinds))},");
        }

        code.Line("_ => throw new ArgumentOutOfRangeException(nameof(key), key, \"Unknown API key.\"),");
        code.Close(";");
        code.Line();

        var hasControlledShutdown = requests.Any(r => r.Name == "ControlledShutdownRequest");
        code.Summary("The request header version for a request: 2 when the request version is flexible, else 1 (0 for ControlledShutdown v0).");
        code.Open("public static short RequestHeaderVersion(ApiKey key, short apiVersion)");
        if (hasControlledShutdown)
        {
            code.Open("if (key == ApiKey.ControlledShutdown && apiVersion == 0)");
            code.Line("return 0;");
            code.Close();
            code.Line();
        }

        code.Line("return apiVersion >= LowestFlexibleVersion(key) ? (short)2 : (short)1;");
        code.Close();
        code.Line();

        code.Summary("The response header version for a response: 1 when the response version is flexible, else 0.");
        code.Open("public static short ResponseHeaderVersion(ApiKey key, short apiVersion)");
        code.Line("// ApiVersions responses always use header v0, so a client that sent a version the broker");
        code.Line("// does not know can still parse the answer (KIP-511).");
        code.Open("if (key == ApiKey.ApiVersions)");
        code.Line("return 0;");
        code.Close();
        code.Line();
        code.Open("short lowestFlexible = key switch");
        foreach (var request in requests)
        {
            if (responses.TryGetValue(request.ApiKey!.Value, out var response))
            {
                code.Line($"ApiKey.{MessageEmitter.ApiKeyName(request.Name)} => {response.Name}.LowestFlexibleVersion,");
            }
        }

        code.Line("_ => throw new ArgumentOutOfRangeException(nameof(key), key, \"Unknown API key.\"),");
        code.Close(";");
        code.Line("return apiVersion >= lowestFlexible ? (short)1 : (short)0;");
        code.Close();

        code.Close();
        return code.ToString();
    }

    private static void EmitLookup(CodeWriter code, List<MessageSpec> requests, string constant, string summary)
    {
        code.Summary(summary);
        code.Open($"public static short {constant}(ApiKey key) => key switch");
        foreach (var request in requests)
        {
            code.Line($"ApiKey.{MessageEmitter.ApiKeyName(request.Name)} => {request.Name}.{constant},");
        }

        code.Line("_ => throw new ArgumentOutOfRangeException(nameof(key), key, \"Unknown API key.\"),");
        code.Close(";");
    }

    private static string ListenerFlag(string listener) => listener switch
    {
        "broker" => "ApiListeners.Broker",
        "controller" => "ApiListeners.Controller",
        "zkBroker" => "ApiListeners.ZkBroker",
        _ => throw new InvalidOperationException($"Unknown listener kind '{listener}' in a spec."),
    };

    private static List<MessageSpec> Requests(List<MessageSpec> specs) =>
        [.. specs.Where(s => s.Kind == "request").OrderBy(s => s.ApiKey)];

    private static CodeWriter Start()
    {
        var code = new CodeWriter();
        code.Line(MessageEmitter.Header);
        code.Line();
        code.Line("namespace Levee.Protocol.Messages;");
        code.Line();
        return code;
    }
}
