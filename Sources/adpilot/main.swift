// Entry point of the adpilot command-line tool.
print("adpilot")
