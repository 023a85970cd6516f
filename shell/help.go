package shell

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// helpIntro is what HELP prints.
const helpIntro = `Type CQL statements ended by ';' (they may span lines); Chorus sends each
to the cluster: SELECT is answered by one worker from its replica, every
other statement is a write, ordered and applied by every replica.

Shell commands (no ';' needed):
  DESCRIBE TABLES          the tables of the keyspace (DESC for short)
  DESCRIBE TABLE <name>    a table's columns, types and key roles
  CONSISTENCY [level]      show or set the consistency level
  TRACING [ON|OFF]         show the round trip, worker and seq of each statement
  SOURCE '<file>'          run the statements and commands of a file
  \status                  the cluster's status, as chorus status shows it
  HELP [topic]             this help, or a topic's
  EXIT, QUIT               leave (or Ctrl-D)

Keys: arrows and Ctrl-R recall history; Ctrl-C drops the statement being
typed, or cancels the one running; Ctrl-D on an empty line leaves.
`

// helpTopics are the details HELP <topic> prints.
var helpTopics = map[string]string{
	"DESCRIBE": `DESCRIBE TABLES lists the tables of the worker's keyspace. DESCRIBE TABLE
<name> lists a table's columns in CREATE TABLE order with their type, kind
(partition_key, clustering, static, regular), position and clustering order,
after a CREATE TABLE statement rebuilt from them (without table options).
The worker that receives it answers from its own schema; nothing is ordered.`,
	"CONSISTENCY": `CONSISTENCY shows the level; CONSISTENCY <level> sets it for the
statements that follow. Writes: ALL (the default: SUCCESS once every live
replica applied the write) or ONE (once the leader's replica did); reads are
then LOCAL. Reads: LOCAL (the worker's replica as it is), LINEARIZABLE (every
write acknowledged before the read is seen), MIN_SEQ:<seq> (the replica has
applied at least that seq) or BOUNDED:<duration> (caught up with the leader at
most that long ago); writes are then ALL.`,
	"TRACING": `TRACING ON prints after each statement: the round trip as the shell measured
it (retries included), the worker that answered and the seq the reply names
(the write's log position). TRACING OFF stops it.`,
	"SOURCE": `SOURCE '<file>' runs the file's statements and shell commands in order, as
if typed; an error is reported and the next statement runs. EXIT in a file
ends the file.`,
}

// help prints HELP or HELP <topic>.
func help(w io.Writer, topic string) error {
	if topic == "" {
		fmt.Fprint(w, helpIntro)
		return nil
	}
	if topic == "DESC" {
		topic = "DESCRIBE"
	}
	text, ok := helpTopics[topic]
	if !ok {
		var names []string
		for k := range helpTopics {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("no help on %s; topics: %s", topic, strings.Join(names, ", "))
	}
	fmt.Fprintln(w, text)
	return nil
}
