using System.Globalization;
using Confluent.Kafka.Admin;
using Spectre.Console;

namespace Levee.Commands.Groups;

/// <summary>Renders `levee groups` results as Spectre.Console tables.</summary>
internal static class GroupsView
{
    /// <summary>
    /// A console for tables. When the output is redirected (a pipe, a file, a test), lines are made wide and plain so
    /// that long member ids are not wrapped and the output can be read by scripts.
    /// </summary>
    public static IAnsiConsole CreateConsole()
    {
        if (!Console.IsOutputRedirected)
        {
            return AnsiConsole.Console;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        console.Profile.Width = 400;
        return console;
    }

    public static void List(IAnsiConsole console, IReadOnlyList<ConsumerGroupListing> groups)
    {
        if (groups.Count == 0)
        {
            console.WriteLine("No groups.");
            return;
        }

        var table = new Table().AddColumn("GROUP").AddColumn("STATE").AddColumn("TYPE");
        foreach (var group in groups)
        {
            table.AddRow(Markup.Escape(group.GroupId), group.State.ToString(), group.IsSimpleConsumerGroup ? "simple" : "consumer");
        }

        console.Write(table);
    }

    public static void Describe(IAnsiConsole console, GroupView group)
    {
        var totalLag = group.Partitions.Sum(p => p.Lag ?? 0);
        console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Group {group.GroupId}: state {group.State}, protocol {(group.Protocol.Length == 0 ? "-" : group.Protocol)}, {group.Members.Count} members, total lag {totalLag}"));

        var members = new Table().Title("members").AddColumn("MEMBER-ID").AddColumn("CLIENT-ID").AddColumn("HOST").AddColumn("INSTANCE-ID").AddColumn("ASSIGNMENT");
        foreach (var member in group.Members)
        {
            members.AddRow(
                Markup.Escape(member.MemberId),
                Markup.Escape(member.ClientId),
                Markup.Escape(member.Host),
                Markup.Escape(member.InstanceId ?? "-"),
                Markup.Escape(Assignment(member.Assignment)));
        }

        if (group.Members.Count > 0)
        {
            console.Write(members);
        }

        var offsets = new Table().Title("offsets").AddColumn("TOPIC").AddColumn("PARTITION", c => c.RightAligned())
            .AddColumn("CURRENT-OFFSET", c => c.RightAligned()).AddColumn("LOG-END-OFFSET", c => c.RightAligned()).AddColumn("LAG", c => c.RightAligned())
            .AddColumn("CONSUMER-ID").AddColumn("HOST").AddColumn("CLIENT-ID");
        foreach (var p in group.Partitions)
        {
            offsets.AddRow(
                Markup.Escape(p.Topic),
                Number(p.Partition),
                Number(p.Committed),
                Number(p.LogEnd),
                Number(p.Lag),
                Markup.Escape(p.Owner?.MemberId ?? "-"),
                Markup.Escape(p.Owner?.Host ?? "-"),
                Markup.Escape(p.Owner?.ClientId ?? "-"));
        }

        if (group.Partitions.Count == 0)
        {
            console.WriteLine("No committed offsets and no assigned partitions.");
        }
        else
        {
            console.Write(offsets);
        }
    }

    public static void Plan(IAnsiConsole console, string group, IReadOnlyList<OffsetResetLine> plan, bool dryRun)
    {
        var table = new Table().Title(dryRun ? "reset plan (dry run, nothing committed)" : "new offsets").AddColumn("GROUP").AddColumn("TOPIC")
            .AddColumn("PARTITION", c => c.RightAligned()).AddColumn("CURRENT-OFFSET", c => c.RightAligned()).AddColumn("NEW-OFFSET", c => c.RightAligned());
        foreach (var line in plan)
        {
            table.AddRow(Markup.Escape(group), Markup.Escape(line.Topic), Number(line.Partition), Number(line.Current), Number(line.Target));
        }

        console.Write(table);
    }

    private static string Assignment(IReadOnlyList<Confluent.Kafka.TopicPartition> partitions) => partitions.Count == 0
        ? "-"
        : string.Join(
            ", ",
            partitions.GroupBy(tp => tp.Topic).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key}({string.Join(",", g.Select(tp => tp.Partition.Value).Order())})"));

    private static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";
}
