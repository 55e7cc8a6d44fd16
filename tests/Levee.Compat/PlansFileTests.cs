using Levee.Commands.Clusters;
using Levee.Commands.Tenants;

namespace Levee.Compat;

/// <summary>`levee plans apply`'s file and `levee plans set`'s values: everything is checked before anything is sent.</summary>
public sealed class PlansFileTests
{
    [Fact]
    public void Parse_ReadsEveryPlanAndSetting_InTheFilesOrder()
    {
        var plans = PlansFile.Parse(
            """
            {
              // comments and trailing commas are allowed
              "plans": {
                "gold": { "producer_byte_rate": 1048576, "partitions": 100, "request_percentage": 50, },
                "free-tier": { "storage_bytes": 1073741824 }
              }
            }
            """,
            "plans.json");

        Assert.Equal(["gold", "free-tier"], plans.Select(p => p.Name));
        Assert.Equal(
            [KeyValuePair.Create("producer_byte_rate", 1048576L), KeyValuePair.Create("partitions", 100L), KeyValuePair.Create("request_percentage", 50L)],
            plans[0].Settings);
        Assert.Equal([KeyValuePair.Create("storage_bytes", 1073741824L)], plans[1].Settings);
    }

    [Fact]
    public void Parse_TakesEveryPlanKey()
    {
        var settings = string.Join(", ", PlansFile.Keys.Select(k => $"\"{k}\": 1"));
        var plan = Assert.Single(PlansFile.Parse("""{"plans": {"all": { """ + settings + " }}}", "plans.json"));
        Assert.Equal(PlansFile.Keys, plan.Settings.Select(s => s.Key));
    }

    [Fact]
    public void Parse_WithTextThatIsNotJson_NamesTheLineAndPosition()
    {
        var e = Assert.Throws<ClusterCommandException>(() => PlansFile.Parse("{\"plans\": {\"gold\": {\"partitions\": 1\n  \"connections\": 2}}}", "plans.json"));
        Assert.StartsWith("plans.json does not parse as JSON at line 2, position 3: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WithAnUnknownKey_NamesThePlanAndTheKey()
    {
        var e = Assert.Throws<ClusterCommandException>(() => PlansFile.Parse("""{"plans": {"gold": {"partitions": 1, "bananas": 2}}}""", "plans.json"));
        Assert.StartsWith("plans.json: plan 'gold': 'bananas' is not a plan key (a plan sets producer_byte_rate, ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("1.0")]
    [InlineData("1e3")]
    [InlineData("\"65536\"")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("[1]")]
    [InlineData("99999999999999999999")]
    public void Parse_WithAValueThatIsNotAPositiveInteger_RefusesIt(string value)
    {
        var e = Assert.Throws<ClusterCommandException>(() => PlansFile.Parse("""{"plans": {"gold": {"producer_byte_rate": """ + value + "}}}", "plans.json"));
        Assert.Equal($"plans.json: plan 'gold': producer_byte_rate must be a positive integer, not {value}.", e.Message);
    }

    [Theory]
    [InlineData("Gold")]
    [InlineData("1gold")]
    [InlineData("gold_plan")]
    [InlineData("")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456")]
    public void Parse_WithABadPlanName_RefusesIt(string name)
    {
        var e = Assert.Throws<ClusterCommandException>(() => PlansFile.Parse("{\"plans\": {\"" + name + "\": {\"partitions\": 1}}}", "plans.json"));
        Assert.Equal($"plans.json: '{name}' is not a valid plan name ({TenantNames.Rule}).", e.Message);
    }

    [Theory]
    [InlineData("[]", "must be an object")]
    [InlineData("{}", "needs a \"plans\" object")]
    [InlineData("""{"plans": []}""", "needs a \"plans\" object")]
    [InlineData("""{"plans": {}, "tenants": {}}""", "unknown key 'tenants' at the top level")]
    [InlineData("""{"plans": {}}""", "names no plan")]
    [InlineData("""{"plans": {"gold": 5}}""", "plan 'gold' must be an object of settings, not number")]
    [InlineData("""{"plans": {"gold": {}}}""", "plan 'gold' sets nothing")]
    [InlineData("""{"plans": {"gold": {"partitions": 1, "partitions": 2}}}""", "plan 'gold' sets partitions twice")]
    [InlineData("""{"plans": {"gold": {"partitions": 1}, "gold": {"connections": 2}}}""", "plan 'gold' is there twice")]
    public void Parse_WithAFileOfTheWrongShape_SaysWhatIsWrong(string json, string problem)
    {
        var e = Assert.Throws<ClusterCommandException>(() => PlansFile.Parse(json, "plans.json"));
        Assert.StartsWith("plans.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CommandLineValues_ArePositiveIntegersOfKnownKeys()
    {
        Assert.Equal("consumer_byte_rate", PlansFile.CheckKey("consumer_byte_rate"));
        Assert.Equal(65536, PlansFile.ParseValue("producer_byte_rate", "65536"));
        Assert.Contains("'bananas' is not a plan key", Assert.Throws<ClusterCommandException>(() => PlansFile.CheckKey("bananas")).Message, StringComparison.Ordinal);
        foreach (var bad in new[] { "0", "-5", "+5", " 5", "5.0", "1e3", "", "lots" })
        {
            var e = Assert.Throws<ClusterCommandException>(() => PlansFile.ParseValue("partitions", bad));
            Assert.Equal($"partitions must be a positive integer, not '{bad}'.", e.Message);
        }
    }
}
