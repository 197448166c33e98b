package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// The shell completions and the man page are generated from the command
// definitions (newApp), so they list exactly the verbs and flags the
// program takes: "left4me-deploy generate-docs DIR" (hidden; scripts/dist
// runs it into the bundle's share/) writes
//
//	DIR/man/man1/left4me-deploy.1
//	DIR/bash-completion/completions/left4me-deploy
//	DIR/zsh/site-functions/_left4me-deploy
//	DIR/fish/vendor_completions.d/left4me-deploy.fish

func generateDocsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "generate-docs",
		Usage:     "write the man page and the bash, zsh and fish completions under DIR",
		ArgsUsage: "DIR",
		Hidden:    true,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "generate-docs needs exactly one argument, the output DIR")
			}
			files, err := generatedDocs(newApp(e))
			if err != nil {
				return err
			}
			names := make([]string, 0, len(files))
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				p := filepath.Join(c.Args().First(), n)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
					return err
				}
				fmt.Fprintln(e.Stdout, p)
			}
			return nil
		},
	}
}

// generatedDocs are the generated files by relative path.
func generatedDocs(app *cli.App) (map[string]string, error) {
	app.Setup()
	man, err := app.ToManWithSection(1)
	if err != nil {
		return nil, fmt.Errorf("man page: %w", err)
	}
	fish, err := app.ToFishCompletion()
	if err != nil {
		return nil, fmt.Errorf("fish completion: %w", err)
	}
	// cli writes one-letter flags as long options (--p); ssh's spelling
	// is -p. The placeholders' backquotes are for the help only.
	fish = fishShort.ReplaceAllString(fish, "-s $1 ")
	fish = strings.ReplaceAll(fish, "`", "")
	return map[string]string{
		"man/man1/left4me-deploy.1":                     man,
		"bash-completion/completions/left4me-deploy":    bashCompletion(app),
		"zsh/site-functions/_left4me-deploy":            zshCompletion(app),
		"fish/vendor_completions.d/left4me-deploy.fish": fish,
	}, nil
}

// spellings are a flag list's command-line spellings: -x for one letter,
// --name otherwise.
func spellings(fs []cli.Flag) []string {
	var out []string
	for _, f := range fs {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				out = append(out, "-"+n)
			} else {
				out = append(out, "--"+n)
			}
		}
	}
	return out
}

func visibleCommands(app *cli.App) []*cli.Command {
	var out []*cli.Command
	for _, c := range app.Commands {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

func bashCompletion(app *cli.App) string {
	var b strings.Builder
	var names []string
	for _, c := range visibleCommands(app) {
		names = append(names, c.Name)
	}
	fmt.Fprintf(&b, "# bash completion for %s (generated from its command definitions)\n", app.Name)
	b.WriteString("_left4me_deploy() {\n  local cur verb i\n  cur=${COMP_WORDS[COMP_CWORD]}\n  verb=\n")
	fmt.Fprintf(&b, "  for ((i = 1; i < COMP_CWORD; i++)); do\n    case ${COMP_WORDS[i]} in\n      %s) verb=${COMP_WORDS[i]}; break ;;\n    esac\n  done\n", strings.Join(names, "|"))
	b.WriteString("  local flags\n  case $verb in\n")
	for _, c := range visibleCommands(app) {
		fmt.Fprintf(&b, "    %s) flags=%q ;;\n", c.Name, strings.Join(append(spellings(c.Flags), "--help"), " "))
	}
	fmt.Fprintf(&b, "    *) flags=%q ;;\n  esac\n", strings.Join(append(spellings(app.Flags), "--help", "--version"), " "))
	b.WriteString("  if [[ $cur == -* ]]; then\n    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n")
	fmt.Fprintf(&b, "  elif [[ -z $verb ]]; then\n    COMPREPLY=($(compgen -W %q -- \"$cur\") $(compgen -A hostname -- \"$cur\"))\n", strings.Join(names, " "))
	b.WriteString("  else\n    COMPREPLY=($(compgen -A hostname -- \"$cur\") $(compgen -f -- \"$cur\"))\n  fi\n}\n")
	b.WriteString("complete -F _left4me_deploy left4me-deploy\n")
	return b.String()
}

func zshCompletion(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s (generated from its command definitions)\n", app.Name, app.Name)
	b.WriteString("_left4me_deploy() {\n  local -a verbs\n  verbs=(\n")
	for _, c := range visibleCommands(app) {
		fmt.Fprintf(&b, "    %s\n", zshQuote(c.Name+":"+c.Usage))
	}
	b.WriteString("  )\n  local verb=${words[2]}\n  case $verb in\n")
	for _, c := range visibleCommands(app) {
		fmt.Fprintf(&b, "    %s)\n      _arguments %s '*:host:_hosts'\n      ;;\n", c.Name, zshFlags(c.Flags))
	}
	fmt.Fprintf(&b, "    *)\n      _arguments %s '1:verb or host:{_describe verb verbs; _hosts}' '*:host:_hosts'\n      ;;\n  esac\n}\n", zshFlags(app.Flags))
	b.WriteString("_left4me_deploy \"$@\"\n")
	return b.String()
}

func zshFlags(fs []cli.Flag) string {
	var parts []string
	for _, f := range fs {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		usage := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			usage = d.GetUsage()
		}
		usage = strings.NewReplacer("[", "(", "]", ")", ":", " ", "`", "").Replace(usage)
		arg := ""
		if d, ok := f.(cli.DocGenerationFlag); ok && d.TakesValue() {
			arg = ":value:"
		}
		for _, n := range spellings([]cli.Flag{f}) {
			parts = append(parts, zshQuote(n+"["+usage+"]"+arg))
		}
	}
	return strings.Join(parts, " ")
}

var fishShort = regexp.MustCompile(`-l ([A-Za-z]) `)

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
