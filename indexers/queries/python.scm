; Definitions
(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.class

; References
(call function: [(identifier) (attribute)] @reference.call)
(class_definition superclasses: (argument_list [(identifier) (attribute)] @reference.inherit))
(decorator [(identifier) (attribute)] @reference.call)
(decorator (call function: [(identifier) (attribute)] @reference.call))

; Imports
(import_statement) @import
(import_from_statement) @import
